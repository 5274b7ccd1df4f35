"""Request bodies validated by declared pydantic models, their errors in the contract's terms.

A body model is strict (no coercion: ``"3"`` is not a badge) and refuses unknown fields. Its
validators raise ``refuse(code, message)`` for the contract's own codes (``TOO_LONG``,
``INVALID_IMAGE``, ...); ``validate`` turns every pydantic error into a ``FieldError`` naming the
parameter the way the contract does (``device_tokens[2]``, ``data.key``)::

    body, errors = validate(PushBody, raw, context={"limits": limits})

Limits that differ per app come in through the validation ``context``; such a field carries
``per_app("max_content", ...)`` in its declaration, so the OpenAPI document says where the
bound comes from instead of stating a number.
"""

from __future__ import annotations

import difflib
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

from pydantic import BaseModel, ValidationError, ValidationInfo
from pydantic_core import ErrorDetails, PydanticCustomError

from shared.settings import Settings

M = TypeVar("M", bound=BaseModel)
# A language tag like ``en``, ``pt-BR`` or ``zh_Hant_TW`` (devices' ``language``, the languages of
# automation templates).
LANGUAGE_PATTERN = r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8}){0,3}$"


def known_time_zone(name: str) -> bool:
    """Whether ``name`` is an IANA time zone this system knows (``Europe/Lisbon``)."""
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True

# A language tag like ``en-GB`` (a device's language, a campaign's content language).
LANGUAGE_PATTERN = r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8}){0,3}$"

# pydantic's error types that have a code of their own in the contract; the rest (wrong type,
# not one of the choices, out of range, unknown field) are INVALID_FORMAT.
_CODES = {"missing": "REQUIRED", "string_too_long": "TOO_LONG", "too_long": "TOO_MANY"}


@dataclass(frozen=True)
class FieldError:
    code: str  # REQUIRED, TOO_LONG, TOO_MANY, INVALID_FORMAT, INVALID_IMAGE, ...
    parameter: str
    message: str
    value: Any = None


def refuse(code: str, message: str, *, at: str = "", parameter: str = "",
           value: Any = None) -> NoReturn:
    """Fail a validator with a contract code. ``at`` is appended to the field's name (an item's
    index, ``[2]``); ``parameter`` and ``value`` replace the field's name and input (for a rule
    one field's validator checks on another)."""
    raise PydanticCustomError(code, message, {"at": at, "parameter": parameter,
                                              "value": value})


def per_app(limit: str, text: str) -> dict[str, Any]:
    """``Field`` keywords of a field bounded by an app's limit (``Limits`` names, the settings'
    defaults): described, not hard-coded, in the schema."""
    default = Settings.model_fields[limit].default
    return {"description": f"{text} At most the app's `{limit}` (default {default}; set by "
                           f"PUSHFLOW_{limit.upper()} or per app).",
            "json_schema_extra": {"x-pushflow-limit": limit}}


def context_of(info: ValidationInfo) -> Mapping[str, Any]:
    """The validation context (``validate`` always passes one)."""
    context = info.context
    return context if type(context) is dict else {}  # the exact type: an ABC check costs more


def parameter_of(loc: tuple[int | str, ...]) -> str:
    """``("data", "k")`` -> ``data.k``; ``("device_tokens", 2)`` -> ``device_tokens[2]``;
    dict-key errors (``[key]``) name the key; the whole value is ''."""
    name = ""
    for part in loc:
        if isinstance(part, int):
            name += f"[{part}]"
        elif part != "[key]":
            name += f".{part}" if name else part
    return name


def suggestion(name: str, known: list[str]) -> str:
    """``; did you mean 'scheduleTime'?`` for a near miss of a known field, else ''."""
    folded = {k.lower().replace("_", ""): k for k in known}
    close = folded.get(name.lower().replace("_", "").replace("-", ""))
    if close is None:
        matches = difflib.get_close_matches(name.lower(), list(folded), n=1, cutoff=0.75)
        close = folded[matches[0]] if matches else None
    return f"; did you mean '{close}'?" if close else ""


def _field_error(error: ErrorDetails, model: type[BaseModel], prefix: str) -> FieldError:
    kind, ctx = error["type"], error.get("ctx") or {}
    name = str(ctx.get("parameter") or parameter_of(error["loc"]) + str(ctx.get("at", "")))
    parameter = prefix + name or "body"
    value = ctx.get("value") if ctx.get("parameter") else error.get("input")
    if kind == "missing":
        value, message = None, f"'{parameter}' is required"
    elif kind == "extra_forbidden":
        known = [f.alias or field for field, f in model.model_fields.items()]
        message = f"Unknown field '{parameter}'" + suggestion(name, known)
    elif kind == "model_type":
        message = ("The body must be a JSON object" if parameter == "body" else
                   f"'{parameter.rstrip('.')}' must be a JSON object")
    elif kind.isupper():  # refuse(): the message is the contract's own
        message = error["msg"]
    elif error["msg"].startswith("Input should be"):
        message = error["msg"].replace("Input should be", f"'{parameter}' must be", 1)
    else:
        message = f"'{parameter}': {error['msg']}"
    code = kind if kind.isupper() else _CODES.get(kind, "INVALID_FORMAT")
    return FieldError(code, parameter, message, value)


def validate(model: type[M], data: Any, context: dict[str, Any] | None = None, *,
             prefix: str = "", whole_fields: bool = False) -> tuple[M | None, list[FieldError]]:
    """The model instance, or the errors (one per problem; with ``whole_fields``, one per
    top-level field, named without item indexes)."""
    try:
        return model.model_validate(data, context=context), []
    except ValidationError as exc:
        errors = [_field_error(e, model, prefix) for e in exc.errors(include_url=False)]
    if whole_fields:
        named: dict[str, FieldError] = {}
        for e in errors:
            top = e.parameter.split("[", 1)[0].split(".", 1)[0]
            named.setdefault(top, FieldError(e.code, top, e.message, e.value))
        errors = list(named.values())
    return None, errors
