"""Unit tests of one function each: the condition operators, the language chain, the
placeholders a template reads and the sandbox."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from domain.automation.conditions import Condition, guaranteed, holds
from domain.automation.model import language_chain
from domain.automation.templates import Compiled, RenderError, environment, placeholders

_CONDITION: TypeAdapter[Any] = TypeAdapter(Condition)
PROPS = {"status": "shipped", "total": 42.5, "count": 3, "vip": True, "at": "2027-01-15T08:00:00Z",
         "order": {"id": "A1"}, "zero": 0}


@pytest.mark.parametrize(("condition", "expected"), [
    ({"property": "status", "op": "eq", "value": "shipped"}, True),
    ({"property": "status", "op": "eq", "value": "placed"}, False),
    ({"property": "vip", "op": "eq", "value": 1}, False),  # true is not 1
    ({"property": "zero", "op": "eq", "value": False}, False),
    ({"property": "count", "op": "eq", "value": 3.0}, True),
    ({"property": "status", "op": "ne", "value": "placed"}, True),
    ({"property": "missing", "op": "ne", "value": "x"}, True),
    ({"property": "status", "op": "ne", "value": "shipped"}, False),
    ({"property": "status", "op": "in", "value": ["placed", "shipped"]}, True),
    ({"property": "status", "op": "in", "value": ["placed"]}, False),
    ({"property": "order.id", "op": "exists", "value": True}, True),
    ({"property": "order.nope", "op": "exists", "value": True}, False),
    ({"property": "nope", "op": "exists", "value": False}, True),
    ({"property": "total", "op": "gt", "value": 42}, True),
    ({"property": "total", "op": "gt", "value": 42.5}, False),
    ({"property": "total", "op": "gte", "value": 42.5}, True),
    ({"property": "count", "op": "lt", "value": 3}, False),
    ({"property": "count", "op": "lte", "value": 3}, True),
    ({"property": "status", "op": "gt", "value": 1}, False),  # not a number
    ({"property": "vip", "op": "gt", "value": 0}, False),  # a boolean is not a number
    ({"property": "at", "op": "before", "value": "2027-01-15T09:30:00+01:00"}, True),
    ({"property": "at", "op": "after", "value": "2027-01-15T07:59:59Z"}, True),
    ({"property": "at", "op": "after", "value": "2027-01-16T00:00:00Z"}, False),
    ({"property": "status", "op": "before", "value": "2027-01-16T00:00:00Z"}, False),
    ({"all": [{"property": "vip", "op": "eq", "value": True},
              {"any": [{"property": "count", "op": "gt", "value": 5},
                       {"property": "status", "op": "eq", "value": "shipped"}]}]}, True),
    ({"all": [{"property": "vip", "op": "eq", "value": True},
              {"property": "count", "op": "gt", "value": 5}]}, False),
    ({"any": [{"property": "nope", "op": "exists", "value": True},
              {"all": [{"property": "count", "op": "gte", "value": 3}]}]}, True),
])
def test_each_operator(condition: dict[str, Any], expected: bool) -> None:
    assert holds(_CONDITION.validate_python(condition), PROPS) is expected


@pytest.mark.parametrize("condition", [
    {"property": "x", "op": "in", "value": "a"}, {"property": "x", "op": "gt", "value": "1"},
    {"property": "x", "op": "exists", "value": 1},
    {"property": "x", "op": "before", "value": "yesterday"},
    {"property": "x", "op": "eq", "value": [1]}, {"all": []}, {"property": "a..b", "op": "eq"},
])
def test_malformed_conditions_are_refused(condition: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        _CONDITION.validate_python(condition)


def test_guaranteed_paths() -> None:
    c = _CONDITION.validate_python({"all": [
        {"property": "order.id", "op": "exists", "value": True},
        {"property": "x", "op": "ne", "value": 1},
        {"any": [{"property": "a", "op": "eq", "value": 1},
                 {"property": "a", "op": "gt", "value": 5},
                 {"property": "b", "op": "eq", "value": 1}]}]})
    assert guaranteed(c) == {("order",), ("order", "id")}


@pytest.mark.parametrize(("device", "expected"), [
    ("pt-BR", "pt-BR"), ("pt_br", "pt-BR"), ("pt-PT", "pt"), ("PT", "pt"), ("de", "en"),
    (None, "en"), ("zh-Hant-TW", "en")])
def test_language_fallback_chain(device: str | None, expected: str) -> None:
    assert language_chain(device, ["en", "pt", "pt-BR"], "en") == expected


def test_placeholders_required_and_optional() -> None:
    found = placeholders(environment(), (
        "{{ properties.a.b }} {{ properties.c | default('-') }}"
        "{% if properties.d %}{{ properties.d.e }}{% endif %}{{ event.userId }}{{ nope }}"))
    assert found.required == {("properties", "a", "b"), ("event", "userId")}
    assert found.optional == {("properties", "c"), ("properties", "d"), ("properties", "d", "e")}
    assert found.unknown_names == {"nope"}


@pytest.mark.parametrize("source", [
    "{{ properties.__class__ }}", "{{ properties.items.__globals__ }}",
    "{{ ''.__class__.__mro__ }}", "{{ properties.missing }}"])
def test_the_sandbox_refuses_python_internals_and_missing_values(source: str) -> None:
    with pytest.raises(RenderError):
        Compiled(environment(), {"t": source}).render("t", {"properties": {}})
