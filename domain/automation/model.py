"""An automation rule as the API takes it (``POST /v2.1/automations``) and stores it.

What it means:

- ``event``: the event name that triggers it; ``conditions`` on the event's properties
  (``domain.automation.conditions``).
- ``templates``: title and content per language, ``defaultLanguage`` one of them; a device's
  language picks the template through the chain ``pt-BR`` -> ``pt`` -> default
  (``language_chain``). ``image``, ``collapseKey`` and the ``data`` values are templates too.
- timing: ``delaySeconds``; ``cancel`` (a later event named ``cancel.event`` whose property
  ``cancel.key`` equals this event's drops the delayed send); ``cooldownSeconds`` per user;
  ``quietHours`` in the device's time zone (the send waits until they end).
"""

from __future__ import annotations

from datetime import time
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from domain.automation.conditions import MAX_PATH, Condition
from shared.validation import LANGUAGE_PATTERN, known_time_zone

MAX_NAME, MAX_EVENT_NAME, MAX_LANGUAGES, MAX_DATA_KEYS = 200, 200, 50, 50
MAX_DELAY_SECONDS = 30 * 86400
MAX_TTL_SECONDS = 28 * 86400
DEFAULT_PLACEHOLDER_CHARS = 32
EVENT_NAME_PATTERN = r"^[A-Za-z0-9_.:\-]+$"
_STRICT = ConfigDict(strict=True, extra="forbid", frozen=True, populate_by_name=True)


def time_zone(name: str) -> str:
    """``name`` when it is an IANA time zone (``Europe/Lisbon``); ValueError otherwise."""
    if not known_time_zone(name):
        raise ValueError(f"'{name}' is not an IANA time zone")
    return name


def _clock(value: str) -> str:
    try:
        time.fromisoformat(value)
    except ValueError as exc:
        raise ValueError("a time of day is 'HH:MM'") from exc
    if len(value) != 5:
        raise ValueError("a time of day is 'HH:MM'")
    return value


TimeZone = Annotated[str, Field(max_length=64), AfterValidator(time_zone)]
Clock = Annotated[str, AfterValidator(_clock)]
Language = Annotated[str, Field(pattern=LANGUAGE_PATTERN)]
TemplateText = Annotated[str, Field(min_length=1, max_length=2000)]


class Template(BaseModel):
    model_config = _STRICT

    title: TemplateText | None = None
    content: TemplateText


class QuietHours(BaseModel):
    """No push between ``start`` and ``end`` (local time of the device; ``start`` > ``end``
    spans midnight); a send that falls inside waits until ``end``."""

    model_config = _STRICT

    start: Clock
    end: Clock
    time_zone: TimeZone = Field("UTC", alias="timeZone", description=(
        "The zone for devices that registered none."))

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHours:
        if self.start == self.end:
            raise ValueError("'start' and 'end' must differ")
        return self


class Cancel(BaseModel):
    model_config = _STRICT

    event: str = Field(min_length=1, max_length=MAX_EVENT_NAME, pattern=EVENT_NAME_PATTERN)
    key: str = Field(min_length=1, max_length=MAX_PATH, description=(
        "The property (dotted path) both events must have equal: `cartId`."))


class RuleBody(BaseModel):
    """An automation rule (the whole rule: omitted fields take their defaults)."""

    model_config = _STRICT

    name: str = Field(min_length=1, max_length=MAX_NAME)
    event: str = Field(min_length=1, max_length=MAX_EVENT_NAME, pattern=EVENT_NAME_PATTERN,
                       description="The event name that triggers the rule: `order.shipped`.")
    enabled: bool = True
    conditions: Condition | None = None
    templates: dict[Language, Template] = Field(min_length=1, max_length=MAX_LANGUAGES)
    default_language: Language = Field(alias="defaultLanguage")
    image: TemplateText | None = None
    collapse_key: TemplateText | None = Field(None, alias="collapseKey")
    data: dict[Annotated[str, Field(min_length=1, max_length=64)], TemplateText] | None = Field(
        None, max_length=MAX_DATA_KEYS)
    sound: str | None = Field(None, min_length=1, max_length=250)
    priority: Literal["high", "normal"] | None = None
    ttl_seconds: int | None = Field(None, alias="ttlSeconds", ge=1, le=MAX_TTL_SECONDS)
    delay_seconds: int = Field(0, alias="delaySeconds", ge=0, le=MAX_DELAY_SECONDS)
    cancel: Cancel | None = None
    cooldown_seconds: int = Field(0, alias="cooldownSeconds", ge=0, le=MAX_DELAY_SECONDS)
    quiet_hours: QuietHours | None = Field(None, alias="quietHours")
    placeholder_max_chars: dict[Annotated[str, Field(min_length=1, max_length=MAX_PATH)],
                                Annotated[int, Field(ge=1, le=4096)]] | None = Field(
        None, alias="placeholderMaxChars", max_length=100, description=(
            "For the check at save: the longest value a placeholder takes (by path, "
            f"`properties.orderId`); default {DEFAULT_PLACEHOLDER_CHARS}, or the longest of "
            "the values the conditions allow."))

    @model_validator(mode="after")
    def _consistent(self) -> RuleBody:
        if self.default_language not in self.templates:
            raise ValueError(f"'defaultLanguage' {self.default_language!r} has no template")
        if self.cancel is not None and not self.delay_seconds and self.quiet_hours is None:
            raise ValueError("'cancel' only applies to delayed sends: set 'delaySeconds' or "
                             "'quietHours'")
        return self

    def template_sources(self) -> dict[str, str]:
        """Every template of the rule by its field name (``templates.pt.title``, ``image``)."""
        sources: dict[str, str] = {}
        for language, t in self.templates.items():
            if t.title is not None:
                sources[f"templates.{language}.title"] = t.title
            sources[f"templates.{language}.content"] = t.content
        for name, value in (("image", self.image), ("collapseKey", self.collapse_key)):
            if value is not None:
                sources[name] = value
        for key, value in (self.data or {}).items():
            sources[f"data.{key}"] = value
        return sources


def _normal(language: str) -> str:
    return language.replace("_", "-").lower()


def language_chain(language: str | None, available: list[str], default: str) -> str:
    """The template language for a device: its own (``pt-BR``), else its base (``pt``), else
    the default. Case and ``_``/``-`` do not matter."""
    by_normal = {_normal(a): a for a in available}
    if language:
        wanted = _normal(language)
        while wanted:
            if wanted in by_normal:
                return by_normal[wanted]
            wanted = wanted.rpartition("-")[0]
    return default
