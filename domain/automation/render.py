"""From a rule and an event to the push body for one language, and the check made when a rule is
saved.

Rendering fills the templates (``domain.automation.templates``) and hands the result to the
push contract's own validation (``shared.payload.parse_push``, then ``check_platform_limits``
in ``submit``): a rendered push obeys exactly the rules of an API push.

The check at save renders every language with the worst values its placeholders can take -- the
longest of the values the conditions allow, else ``placeholderMaxChars`` (default 64) of a
4-byte character -- and validates that the same way, for both platforms: a rule whose pushes
could exceed a title limit or the payload size is refused before it fires.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from domain.automation.conditions import guaranteed, known_values, numeric_paths
from domain.automation.model import DEFAULT_PLACEHOLDER_CHARS, RuleBody, language_chain
from domain.automation.templates import (
    EVENT_FIELDS,
    Compiled,
    Path,
    RenderError,
    environment,
    fill,
    placeholders,
    syntax_error,
)
from shared.payload import FieldError, Limits, check_platform_limits, parse_push
from shared.tokens import PLATFORMS

WIDEST_CHAR = "\U0001f600"  # 4 bytes in UTF-8: the worst case for the payload size
NUMBER_CHARS = 24  # the longest a JSON number prints (-1.7976931348623157e+308)
EVENT_ID_CHARS, USER_ID_CHARS = 64, 256
_CHECK_TOKEN = "x"  # parse_push needs a token; its shape does not matter to the content rules


@dataclass(frozen=True)
class CompiledRule:
    rule_id: str
    rule: RuleBody
    templates: Compiled

    @classmethod
    def of(cls, rule_id: str, rule: RuleBody) -> CompiledRule:
        return cls(rule_id, rule, Compiled(environment(), rule.template_sources()))

    def language_for(self, device_language: str | None) -> str:
        return language_chain(device_language, list(self.rule.templates),
                              self.rule.default_language)

    def body(self, language: str, context: Mapping[str, Any]) -> dict[str, Any]:
        """The push body (contract names, no tokens) in ``language``; ``RenderError``."""
        rule, r = self.rule, self.templates.render
        template = rule.templates[language]
        body: dict[str, Any] = {"content": r(f"templates.{language}.content", context)}
        if template.title is not None:
            body["title"] = r(f"templates.{language}.title", context)
        if rule.image is not None:
            body["image"] = r("image", context)
        if rule.collapse_key is not None:
            body["collapseKey"] = r("collapseKey", context)
        if rule.data:
            body["data"] = {k: r(f"data.{k}", context) for k in rule.data}
        if rule.sound is not None:
            body["sound"] = rule.sound
        if rule.priority is not None:
            body["priority"] = rule.priority
        if not body["content"]:
            raise RenderError(f"templates.{language}.content rendered empty")
        return body


def event_context(name: str, event_id: str, user_id: str | None,
                  properties: Mapping[str, Any]) -> dict[str, Any]:
    event: dict[str, Any] = {"name": name, "eventId": event_id}
    if user_id is not None:
        event["userId"] = user_id
    return {"properties": properties, "event": event}


def validated(body: dict[str, Any], tokens: list[str], limits: Limits, now: float
              ) -> tuple[Any, list[FieldError]]:
    """The rendered body as a ``PushRequest`` (or its errors), by the push contract's rules."""
    return parse_push({"device_tokens": tokens, **body}, limits, now)


def _dotted(path: Path) -> str:
    return ".".join(path)


def _worst_value(path: Path, rule: RuleBody) -> Any:
    declared = (rule.placeholder_max_chars or {}).get(_dotted(path))
    if path[0] == "event":
        if path[1:] == ("name",):
            return rule.event
        return WIDEST_CHAR * (USER_ID_CHARS if path[1:] == ("userId",) else EVENT_ID_CHARS)
    prop = path[1:]
    if declared is None:
        values = known_values(rule.conditions).get(prop)
        if values is not None:
            return max((str(v) for v in values), key=lambda v: len(v.encode()))
        if prop in numeric_paths(rule.conditions):
            return "9" * NUMBER_CHARS
    return WIDEST_CHAR * (declared or DEFAULT_PLACEHOLDER_CHARS)


def check_rule(rule: RuleBody, limits: Limits, now: float
               ) -> tuple[list[FieldError], list[str]]:
    """(errors that refuse the rule, warnings): syntax, placeholders and the worst-case size."""
    env = environment()
    errors: list[FieldError] = []
    used: set[Path] = set()
    required: set[Path] = set()
    for name, source in rule.template_sources().items():
        why = syntax_error(env, source)
        if why:
            errors.append(FieldError("INVALID_TEMPLATE", name, f"'{name}': {why}", source))
            continue
        found = placeholders(env, source)
        for unknown in sorted(found.unknown_names):
            errors.append(FieldError("INVALID_TEMPLATE", name, (
                f"'{name}' uses '{unknown}': a template sees only 'properties' (the event's) "
                "and 'event' (name, eventId, userId)"), source))
        for path in sorted(found.required | found.optional):
            if path[0] == "event" and (len(path) != 2 or path[1] not in EVENT_FIELDS):
                errors.append(FieldError("INVALID_TEMPLATE", name, (
                    f"'{name}' uses '{_dotted(path)}': 'event' has only "
                    f"{', '.join(sorted(EVENT_FIELDS))}"), source))
        used |= found.required | found.optional
        required |= found.required
    if errors:
        return errors, []
    sure = {("properties", *p) for p in guaranteed(rule.conditions)}
    sure |= {("event", "name"), ("event", "eventId")}
    warnings = [f"'{_dotted(p)}' is not guaranteed by the conditions: an event without it "
                f"fails with template_error (add an 'exists' condition, or use "
                f"'| default(...)')" for p in sorted(required - sure)]
    compiled = CompiledRule.of("check", rule)
    context = fill({p: _worst_value(p, rule) for p in used})
    for language in rule.templates:
        try:
            body = compiled.body(language, context)
        except RenderError as exc:
            errors.append(FieldError("INVALID_TEMPLATE", f"templates.{language}",
                                     f"cannot be rendered with sample values: {exc}"))
            continue
        _request, field_errors = validated(body, [_CHECK_TOKEN], limits, now)
        # The body's keys are the message content's (no externalId or ttl at this point).
        field_errors += check_platform_limits(body, PLATFORMS, limits)  # type: ignore[arg-type]
        errors.extend(FieldError(e.code, _field_of(e.parameter, language), (
            f"in the worst case ({language}): {e.message}"), e.value) for e in field_errors)
    return errors, warnings


def _field_of(parameter: str, language: str) -> str:
    if parameter in ("title", "content"):
        return f"templates.{language}.{parameter}"
    return parameter
