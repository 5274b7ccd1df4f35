"""Rule templates: compiled in Jinja2's ``SandboxedEnvironment`` (no attribute access to Python
objects, nothing reachable but the event), rendered with ``StrictUndefined`` (a missing property
is an error, never an empty title), and the placeholders each template uses.

The context a template sees is ``properties`` (the event's properties) and ``event`` (``name``,
``eventId``, ``userId``). Placeholders are the paths under those names a template reads:
``{{ properties.order.id }}`` uses ``("properties", "order", "id")``. A path read only through the
``default`` filter or inside an ``if`` test is optional (a missing value is handled by the
template itself).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, nodes
from jinja2.exceptions import SecurityError, TemplateError, UndefinedError
from jinja2.sandbox import SandboxedEnvironment

MAX_TEMPLATE_CHARS = 2000
CONTEXT_NAMES = frozenset({"properties", "event"})
EVENT_FIELDS = frozenset({"name", "eventId", "userId"})
Path = tuple[str, ...]


def environment() -> SandboxedEnvironment:
    """The one environment configuration (every rule compiles its templates in one of these)."""
    return SandboxedEnvironment(undefined=StrictUndefined, autoescape=False,
                                keep_trailing_newline=False)


class RenderError(Exception):
    """A template could not be rendered for this event (``template_error``)."""


@dataclass(frozen=True)
class Placeholders:
    required: set[Path] = field(default_factory=set)
    optional: set[Path] = field(default_factory=set)
    unknown_names: set[str] = field(default_factory=set)  # top-level names that do not exist


def _path_of(node: nodes.Node) -> Path | None:
    """The dotted path a ``Getattr``/``Getitem`` chain reads, when rooted at a plain name."""
    parts: list[str] = []
    while True:
        if isinstance(node, nodes.Getattr):
            parts.append(node.attr)
            node = node.node
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const) \
                and isinstance(node.arg.value, str | int):
            parts.append(str(node.arg.value))
            node = node.node
        elif isinstance(node, nodes.Name):
            parts.append(node.name)
            return tuple(reversed(parts))
        else:
            return None


def _walk(node: nodes.Node, optional: bool, found: Placeholders, local: set[str],
          guarded: frozenset[Path] = frozenset()) -> None:
    if isinstance(node, nodes.For | nodes.Assign | nodes.With | nodes.Macro):
        # Names bound by the template itself are not the event's.
        for target in node.find_all(nodes.Name):
            if target.ctx in ("store", "param"):
                local.add(target.name)
        if isinstance(node, nodes.For):
            local.add("loop")
    if isinstance(node, nodes.Filter) and node.name == "default":
        if node.node is not None:
            _walk(node.node, True, found, local, guarded)
        for arg in [*node.args, *(k.value for k in node.kwargs)]:
            _walk(arg, optional, found, local, guarded)
        return
    if isinstance(node, nodes.If | nodes.CondExpr):
        # What the test reads is optional, and so is it in the branches the test guards.
        tested = Placeholders()
        _walk(node.test, True, tested, local, guarded)
        found.optional.update(tested.optional)
        found.unknown_names.update(tested.unknown_names)
        inner = guarded | tested.optional
        for child in node.iter_child_nodes(exclude=("test",)):
            _walk(child, optional, found, local, inner)
        return
    if isinstance(node, nodes.Getattr | nodes.Getitem | nodes.Name):
        path = _path_of(node)
        if path is not None:
            root = path[0]
            if root in local:
                return
            if root not in CONTEXT_NAMES:
                found.unknown_names.add(root)
            elif len(path) > 1:
                loose = optional or any(path[:len(g)] == g for g in guarded)
                (found.optional if loose else found.required).add(path)
            return
    for child in node.iter_child_nodes():
        _walk(child, optional, found, local, guarded)


def placeholders(env: SandboxedEnvironment, source: str) -> Placeholders:
    """The paths ``source`` reads; ``TemplateSyntaxError`` when it does not parse."""
    found = Placeholders()
    _walk(env.parse(source), False, found, set())
    found.optional.difference_update(found.required)
    return found


def syntax_error(env: SandboxedEnvironment, source: str) -> str | None:
    """Why ``source`` is not a valid template, or None."""
    if len(source) > MAX_TEMPLATE_CHARS:
        return f"a template may have at most {MAX_TEMPLATE_CHARS} characters"
    try:
        env.parse(source)
    except TemplateSyntaxError as exc:
        return f"line {exc.lineno}: {exc.message}"
    return None


class Compiled:
    """One rule's templates, compiled once; ``render`` fills them for an event."""

    def __init__(self, env: SandboxedEnvironment, sources: Mapping[str, str]) -> None:
        # Templates without a placeholder are used as they are (no render at all).
        self.static = {k: v for k, v in sources.items() if "{" not in v}
        self.compiled = {k: env.from_string(v) for k, v in sources.items()
                         if k not in self.static}

    def render(self, key: str, context: Mapping[str, Any]) -> str:
        if key in self.static:
            return self.static[key]
        try:
            return self.compiled[key].render(context)
        except UndefinedError as exc:
            raise RenderError(f"{key}: {exc.message}") from None
        except SecurityError as exc:
            raise RenderError(f"{key}: not allowed in a template: {exc}") from None
        except TemplateError as exc:
            raise RenderError(f"{key}: {exc}") from None
        except (TypeError, ValueError, ArithmeticError, LookupError) as exc:
            raise RenderError(f"{key}: {type(exc).__name__}: {exc}") from None

    def keys(self) -> Iterator[str]:
        yield from self.static
        yield from self.compiled


def fill(paths: Mapping[Path, Any]) -> dict[str, Any]:
    """A context holding each path's value (nested dicts), for the worst-case render."""
    context: dict[str, Any] = {"properties": {}, "event": {}}
    for path, value in sorted(paths.items(), key=lambda kv: len(kv[0])):
        node = context
        for key in path[:-1]:
            child = node.get(key)
            if not isinstance(child, dict):
                child = node[key] = {}
            node = child
        if not isinstance(node.get(path[-1]), dict):
            node[path[-1]] = value
    return context
