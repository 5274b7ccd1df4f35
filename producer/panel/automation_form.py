"""The rule form of the panel: its fields as the page shows and posts them, to and from the
domain's ``RuleBody`` (the same model ``/v2.1/automations`` validates). A fixed number of
condition and language rows keeps the form a plain HTML form (no script); empty rows are left
out. A condition's value is read as JSON when it is JSON (``12``, ``true``, ``["a","b"]``),
else as the text typed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from domain.automation.model import RuleBody
from shared.validation import validate

CONDITION_ROWS, LANGUAGE_ROWS = 5, 4
OPS = ("eq", "ne", "in", "exists", "gt", "gte", "lt", "lte", "before", "after")
SCALARS = ("name", "event", "match", "default_language", "data", "image", "collapse_key",
           "priority", "ttl", "delay", "cancel_event", "cancel_key", "cooldown",
           "quiet_start", "quiet_end", "quiet_zone", "placeholder_max")
MAX_VALUE = 4000


@dataclass
class RuleForm:
    values: dict[str, str]  # as typed, shown again on an error
    errors: list[str] = field(default_factory=list)
    rule: RuleBody | None = None


def _names() -> list[str]:
    rows = [f"c{i}_{p}" for i in range(CONDITION_ROWS) for p in ("property", "op", "value")]
    rows += [f"t{i}_{p}" for i in range(LANGUAGE_ROWS) for p in ("language", "title",
                                                                 "content")]
    return [*SCALARS, *rows]


def _value(raw: str) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw


def _integer(values: dict[str, str], name: str, label: str, errors: list[str]) -> int | None:
    raw = values[name]
    if not raw:
        return None
    if not raw.isdigit():
        errors.append(f"{label} must be a whole number of seconds")
        return None
    return int(raw)


def _conditions(values: dict[str, str]) -> dict[str, Any] | None:
    compares = [{"property": values[f"c{i}_property"], "op": values[f"c{i}_op"] or "eq",
                 "value": _value(values[f"c{i}_value"])}
                for i in range(CONDITION_ROWS) if values[f"c{i}_property"]]
    if not compares:
        return None
    return {"any" if values["match"] == "any" else "all": compares}


def _lengths(raw: str, errors: list[str]) -> dict[str, int] | None:
    """``properties.orderId=10`` lines: the longest value each placeholder takes (for the
    worst-case size check at save)."""
    lengths: dict[str, int] = {}
    for key, value in (_data(raw, errors) or {}).items():
        if not value.isdigit():
            errors.append(f"placeholder length: '{key}={value}' is not path=characters")
            continue
        lengths[key] = int(value)
    return lengths or None


def _data(raw: str, errors: list[str]) -> dict[str, str] | None:
    data: dict[str, str] = {}
    for line in raw.splitlines():
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        if not sep:
            errors.append(f"data: '{line.strip()}' is not key=value")
            continue
        data[key.strip()] = value.strip()
    return data or None


def parse_rule(form: Mapping[str, Any], *, enabled: bool) -> RuleForm:
    """The posted form as a ``RuleBody``, or the reasons it is not one."""
    values = {n: str(form.get(n, "")).strip()[:MAX_VALUE] for n in _names()}
    errors: list[str] = []
    body: dict[str, Any] = {"name": values["name"], "event": values["event"],
                            "enabled": enabled, "templates": {},
                            "defaultLanguage": values["default_language"]}
    for i in range(LANGUAGE_ROWS):
        language = values[f"t{i}_language"]
        if language:
            template = {"content": values[f"t{i}_content"]}
            if values[f"t{i}_title"]:
                template["title"] = values[f"t{i}_title"]
            body["templates"][language] = template
    optional = {"conditions": _conditions(values), "data": _data(values["data"], errors),
                "image": values["image"] or None, "collapseKey": values["collapse_key"] or None,
                "priority": values["priority"] or None,
                "ttlSeconds": _integer(values, "ttl", "ttl", errors),
                "delaySeconds": _integer(values, "delay", "delay", errors),
                "cooldownSeconds": _integer(values, "cooldown", "cooldown", errors),
                "placeholderMaxChars": _lengths(values["placeholder_max"], errors)}
    if values["cancel_event"] or values["cancel_key"]:
        optional["cancel"] = {"event": values["cancel_event"], "key": values["cancel_key"]}
    if values["quiet_start"] or values["quiet_end"]:
        optional["quietHours"] = {"start": values["quiet_start"], "end": values["quiet_end"],
                                  "timeZone": values["quiet_zone"] or "UTC"}
    body.update({k: v for k, v in optional.items() if v is not None})
    result = RuleForm(values, errors)
    if errors:
        return result
    rule, problems = validate(RuleBody, body)
    result.errors = [p.message for p in problems]
    result.rule = rule
    return result


def _compares(rule: RuleBody) -> tuple[str, list[dict[str, Any]]]:
    c = rule.conditions
    if c is None:
        return "all", []
    dumped = c.model_dump(mode="json")
    if "all" in dumped:
        return "all", dumped["all"]
    if "any" in dumped:
        return "any", dumped["any"]
    return "all", [dumped]


def form_holds(rule: RuleBody) -> bool:
    """Whether the form can show the whole rule (else saving it there would drop a part)."""
    _match, compares = _compares(rule)
    return (len(compares) <= CONDITION_ROWS and all("property" in c for c in compares)
            and len(rule.templates) <= LANGUAGE_ROWS and rule.sound is None)


def rule_values(rule: RuleBody | None) -> dict[str, str]:
    """The form's fields filled from a stored rule (empty for a new one)."""
    values = dict.fromkeys(_names(), "")
    if rule is None:
        values.update({"match": "all", "default_language": "en", "t0_language": "en"})
        return values
    match, compares = _compares(rule)
    values.update({
        "name": rule.name, "event": rule.event, "match": match,
        "default_language": rule.default_language, "image": rule.image or "",
        "collapse_key": rule.collapse_key or "", "priority": rule.priority or "",
        "ttl": str(rule.ttl_seconds or ""), "delay": str(rule.delay_seconds or ""),
        "cooldown": str(rule.cooldown_seconds or ""),
        "data": "\n".join(f"{k}={v}" for k, v in (rule.data or {}).items()),
        "placeholder_max": "\n".join(f"{k}={v}" for k, v in
                                     (rule.placeholder_max_chars or {}).items())})
    for i, c in enumerate(compares[:CONDITION_ROWS]):
        value = c.get("value")
        values.update({f"c{i}_property": c.get("property", ""), f"c{i}_op": c.get("op", ""),
                       f"c{i}_value": value if isinstance(value, str)
                       else orjson.dumps(value).decode() if value is not None else ""})
    for i, (language, t) in enumerate(list(rule.templates.items())[:LANGUAGE_ROWS]):
        values.update({f"t{i}_language": language, f"t{i}_title": t.title or "",
                       f"t{i}_content": t.content})
    if rule.cancel is not None:
        values.update({"cancel_event": rule.cancel.event, "cancel_key": rule.cancel.key})
    if rule.quiet_hours is not None:
        values.update({"quiet_start": rule.quiet_hours.start, "quiet_end": rule.quiet_hours.end,
                       "quiet_zone": rule.quiet_hours.time_zone})
    return values


def conditions_summary(rule: RuleBody) -> str:
    """One line: ``all of: total gt 50, country in ["PT","BR"]`` (nested groups as JSON)."""
    match, compares = _compares(rule)
    if not compares:
        return "every event"
    parts = [f"{c['property']} {c['op']} {orjson.dumps(c.get('value')).decode()}"
             if "property" in c else orjson.dumps(c).decode() for c in compares]
    return f"{match} of: " + ", ".join(parts)
