"""A rule's conditions on an event's properties, and their evaluation.

A condition is a comparison of one property (a dotted path into the event's ``properties``:
``order.total``) with a value, or a group: ``{"all": [...]}`` (every one holds) or
``{"any": [...]}`` (at least one holds). The operators:

- ``eq`` / ``ne``: equal / not equal to a JSON scalar (a missing property is "not equal");
- ``in``: equal to one of a list of scalars;
- ``exists``: the property is present (``value: true``) or absent (``value: false``);
- ``gt`` ``gte`` ``lt`` ``lte``: numeric comparisons (a property that is not a number: false);
- ``before`` / ``after``: date-time comparisons with an RFC 3339 value (a property that is not
  a date-time: false).

``guaranteed`` tells which properties a condition proves present whenever it holds: the
template check (``domain.automation.templates``) trusts placeholders on those.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from datetime import datetime
from functools import cached_property
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.payload import parse_time

MAX_CONDITIONS = 50
MAX_PATH = 200
# bool first, tried in order: true stays true and is never taken for 1 (JSON equality).
Scalar = bool | int | float | str | None
NUMERIC_OPS: Final = ("gt", "gte", "lt", "lte")
MISSING = object()
_STRICT = ConfigDict(strict=True, extra="forbid", frozen=True)


class Compare(BaseModel):
    """One property compared with a value."""

    model_config = _STRICT

    property: str = Field(min_length=1, max_length=MAX_PATH, pattern=r"^[A-Za-z0-9_\-]+"
                          r"(\.[A-Za-z0-9_\-]+)*$",
                          description="A dotted path into the event's properties.")
    op: Literal["eq", "ne", "in", "exists", "gt", "gte", "lt", "lte", "before", "after"]
    value: Annotated[Scalar | list[Scalar], Field(union_mode="left_to_right")] = Field(
        None, description=(
        "A scalar (eq, ne), a list (in), a boolean (exists), a number (gt, gte, lt, lte) or "
        "an RFC 3339 date-time (before, after)."))

    @model_validator(mode="after")
    def _value_fits_op(self) -> Compare:
        v = self.value
        if self.op == "in" and not (isinstance(v, list) and 0 < len(v) <= 100):
            raise ValueError("'in' needs a list of 1 to 100 values")
        if self.op != "in" and isinstance(v, list):
            raise ValueError(f"'{self.op}' needs a single value, not a list")
        if self.op == "exists" and not isinstance(v, bool):
            raise ValueError("'exists' needs true or false")
        if self.op in NUMERIC_OPS and (
                isinstance(v, bool) or not isinstance(v, int | float)):
            raise ValueError(f"'{self.op}' needs a number")
        if self.op in ("before", "after"):
            if not isinstance(v, str):
                raise ValueError(f"'{self.op}' needs an RFC 3339 date-time")
            parse_time(v)  # ValueError when it is not one
        return self

    @cached_property
    def steps(self) -> tuple[str, ...]:
        return tuple(self.property.split("."))

    def path(self) -> tuple[str, ...]:
        return self.steps


class AllOfCompares(BaseModel):
    model_config = _STRICT
    all: list[Compare] = Field(min_length=1, max_length=MAX_CONDITIONS)


class AnyOfCompares(BaseModel):
    model_config = _STRICT
    any: list[Compare] = Field(min_length=1, max_length=MAX_CONDITIONS)


# Groups nest two levels deep (``all`` of ``any`` of comparisons, and the reverse): enough for
# any rule in practice, and a finite schema for /openapi.json.
Inner = Annotated[Compare | AllOfCompares | AnyOfCompares, Field(union_mode="left_to_right")]


class AllOf(BaseModel):
    model_config = _STRICT
    all: list[Inner] = Field(min_length=1, max_length=MAX_CONDITIONS)


class AnyOf(BaseModel):
    model_config = _STRICT
    any: list[Inner] = Field(min_length=1, max_length=MAX_CONDITIONS)


Condition = Annotated[Compare | AllOf | AnyOf, Field(union_mode="left_to_right")]
Node = Compare | AllOf | AnyOf | AllOfCompares | AnyOfCompares
_ALL = (AllOf, AllOfCompares)


def lookup(properties: Any, path: tuple[str, ...]) -> Any:
    """The value at ``path`` in the properties, or ``MISSING``."""
    value = properties
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return MISSING
        value = value[key]
    return value


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _time(value: Any) -> datetime | None:
    try:
        return parse_time(value)
    except (ValueError, TypeError):
        return None


# The ordering operators: the coercion both sides go through (None: that side is not of the
# operator's kind, and the comparison is false) and the comparison of what it gives.
_ORDERED: Final[dict[str, tuple[Callable[[Any], Any], Callable[[Any, Any], bool]]]] = {
    "gt": (_number, operator.gt), "gte": (_number, operator.ge),
    "lt": (_number, operator.lt), "lte": (_number, operator.le),
    "before": (_time, operator.lt), "after": (_time, operator.gt)}


def _compare(c: Compare, properties: Any) -> bool:
    found = lookup(properties, c.path())
    if c.op == "exists":
        return (found is not MISSING) == c.value
    if c.op == "ne":
        return found is MISSING or not _same(found, c.value)
    if found is MISSING:
        return False
    if c.op == "eq":
        return _same(found, c.value)
    if c.op == "in":
        assert isinstance(c.value, list)
        return any(_same(found, v) for v in c.value)
    coerce, ordered = _ORDERED[c.op]
    left, right = coerce(found), coerce(c.value)
    return left is not None and right is not None and ordered(left, right)


def _same(a: Any, b: Any) -> bool:
    # JSON equality: true is not 1, 1 is 1.0.
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return bool(a == b)


def holds(condition: Node | None, properties: Any) -> bool:
    """Whether the event's properties satisfy the condition (no condition: always)."""
    if condition is None:
        return True
    if isinstance(condition, Compare):
        return _compare(condition, properties)
    if isinstance(condition, _ALL):
        return all(holds(c, properties) for c in condition.all)
    return any(holds(c, properties) for c in condition.any)


def guaranteed(condition: Node | None) -> set[tuple[str, ...]]:
    """The property paths present whenever the condition holds (and their parents)."""
    if condition is None:
        return set()
    if isinstance(condition, Compare):
        proves = condition.op not in ("ne", "exists") or condition.value is True
        if not proves:
            return set()
        path = condition.path()
        return {path[:i] for i in range(1, len(path) + 1)}
    if isinstance(condition, _ALL):
        return set().union(*(guaranteed(c) for c in condition.all))
    branches = [guaranteed(c) for c in condition.any]
    return set.intersection(*branches)


def known_values(condition: Node | None) -> dict[tuple[str, ...], list[Scalar]]:
    """For properties the condition pins to a few values (``eq``, ``in`` in an ``all``), those
    values: the worst-case length check uses their longest."""
    if isinstance(condition, Compare):
        if condition.op == "eq" and not isinstance(condition.value, list):
            return {condition.path(): [condition.value]}
        if condition.op == "in" and isinstance(condition.value, list):
            return {condition.path(): list(condition.value)}
        return {}
    if isinstance(condition, _ALL):
        out: dict[tuple[str, ...], list[Scalar]] = {}
        for c in condition.all:
            out.update(known_values(c))
        return out
    return {}


def numeric_paths(condition: Node | None) -> set[tuple[str, ...]]:
    """Properties a holding condition proves numeric (in an ``all``)."""
    if isinstance(condition, Compare):
        return {condition.path()} if condition.op in NUMERIC_OPS else set()
    if isinstance(condition, _ALL):
        return set().union(*(numeric_paths(c) for c in condition.all))
    return set()

