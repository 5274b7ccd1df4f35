"""An app's own limits: overrides of the settings' defaults in ``apps.limits`` (the payload
limits of ``shared.payload.Limits`` and the intake rate read by ``producer.ratelimit``); its send
rates per gateway and lane are ``domain.keys.send_rates``. Each value is checked by the rule of
the setting of the same name (``shared.settings.Settings``), so an override can never be what a
setting refuses."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Annotated, Any

import psycopg
from psycopg.types.json import Jsonb
from pydantic import TypeAdapter, ValidationError

from shared.payload import Limits
from shared.settings import Settings

Conn = psycopg.AsyncConnection[Any]
# The intake's two (producer/ratelimit.py reads them from apps.limits by these names).
INTAKE_RATE = ("intake_requests_per_second", "intake_request_burst")
OVERRIDABLE: tuple[str, ...] = (*INTAKE_RATE, *(f.name for f in fields(Limits)))


class BadLimit(ValueError):
    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name


@dataclass(frozen=True)
class AppLimits:
    overrides: dict[str, Any]  # only the names the app overrides


def default(name: str) -> Any:
    return Settings.model_fields[name].default


def check(name: str, raw: str | int | float) -> int | float:
    """``raw`` (a form's text or a JSON number) as the value of setting ``name``, by that
    setting's rule."""
    field = Settings.model_fields[name]
    if isinstance(raw, bool):
        raise BadLimit(name, "must be a number")
    try:
        rule: Any = Annotated[field.annotation, *field.metadata]
        value: Any = TypeAdapter(rule).validate_python(
            raw.strip() if isinstance(raw, str) else raw, strict=False)
    except ValidationError as exc:
        raise BadLimit(name, exc.errors()[0]["msg"]) from None
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise BadLimit(name, "must be a number")
    return value


async def get_limits(conn: Conn, app_id: int) -> AppLimits:
    cur = await conn.execute("SELECT limits FROM apps WHERE id = %s", (app_id,))
    row = await cur.fetchone()
    if row is None:
        return AppLimits({})
    return AppLimits({k: v for k, v in dict(row[0] or {}).items() if k in OVERRIDABLE})


async def set_limits(conn: Conn, app_id: int, overrides: dict[str, int | float]) -> None:
    """Replace the app's overrides (a name left out goes back to its default). Keys of
    ``apps.limits`` this module does not manage are kept."""
    unknown = set(overrides) - set(OVERRIDABLE)
    if unknown:
        raise BadLimit(sorted(unknown)[0], "not a limit an app may override")
    await conn.execute(
        "UPDATE apps SET limits = (limits - %s::text[]) || %s WHERE id = %s",
        (list(OVERRIDABLE), Jsonb(overrides), app_id))
