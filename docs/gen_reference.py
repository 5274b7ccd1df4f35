"""Regenerate the endpoint part of ``docs/api-reference.md`` from the API's ``/openapi.json``.

The hand-written sections (envelope, error codes, statuses, webhooks) stay as written; only the
text between the ``BEGIN GENERATED`` and ``END GENERATED`` markers is replaced.

    python docs/gen_reference.py                   # from the app in-process (no server needed)
    python docs/gen_reference.py --url http://127.0.0.1:8080   # from a running API
    python docs/gen_reference.py --check           # exit 1 when the page is stale (tests)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import urllib.request
from pathlib import Path
from typing import Any

REFERENCE = Path(__file__).with_name("api-reference.md")
BEGIN = "<!-- BEGIN GENERATED: endpoints (docs/gen_reference.py) -->"
END = "<!-- END GENERATED -->"
METHOD_ORDER = ("get", "post", "put", "patch", "delete")


def fetch_openapi(url: str | None) -> dict[str, Any]:
    if url:
        with urllib.request.urlopen(url.rstrip("/") + "/openapi.json", timeout=10) as resp:
            return dict(json.load(resp))
    import httpx

    from producer.app import create_app

    async def in_process() -> dict[str, Any]:
        transport = httpx.ASGITransport(app=create_app())
        async with httpx.AsyncClient(transport=transport, base_url="http://pushflow") as client:
            response = await client.get("/openapi.json")
            response.raise_for_status()
            return dict(response.json())

    return asyncio.run(in_process())


_BIG = 2**31 - 1  # bounds at or past this say "any size", not worth a reader's time


def _bounds(schema: dict[str, Any]) -> str:
    low, high = schema.get("minimum"), schema.get("maximum")
    if high is not None and high >= _BIG:
        high = None
    if low is not None and high is not None:
        return f" {low}-{high}"
    if high is not None:
        return f" up to {high}"
    return f" >= {low}" if low is not None else ""


def _schema_summary(schema: dict[str, Any], doc: dict[str, Any]) -> str:
    """A type as a reader says it: ``string`` (uuid), ``integer`` 1-1000, ``array of string``
    (1-1000 items), ``object of string values``, ``a`` | ``b``."""
    if "$ref" in schema:
        return "`" + str(schema["$ref"]).rsplit("/", 1)[-1] + "`"
    variants = schema.get("anyOf") or schema.get("oneOf")
    if variants:  # ``X | None`` is an optional X: the table's Required column says so
        return " or ".join(_schema_summary(v, doc) for v in variants if v.get("type") != "null")
    if "enum" in schema:
        return " \\| ".join(f"`{v}`" for v in schema["enum"])
    kind = schema.get("type")
    nullable = ""
    if isinstance(kind, list):  # ["string", "null"]: an answer field that may be null
        nullable = " or `null`" if "null" in kind else ""
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        return "any JSON" if not schema.get("properties") else "`object`"
    if kind == "array":
        low, high = schema.get("minItems"), schema.get("maxItems")
        count = f" ({low or 0}-{high} items)" if high else ""
        return f"array of {_schema_summary(schema.get('items', {}), doc)}{count}{nullable}"
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return (f"object of {_schema_summary(schema['additionalProperties'], doc)} values"
                f"{nullable}")
    text = f"`{kind}`"
    if schema.get("format"):
        text += f" ({schema['format']})"
    if kind == "string" and schema.get("maxLength"):
        text += f", at most {schema['maxLength']} characters"
    if kind in ("integer", "number"):
        text += _bounds(schema)
    return text + nullable


def _one_line(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _resolve(schema: dict[str, Any], doc: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return dict(doc.get("components", {}).get("schemas", {}).get(name, {}))
    return schema


def _object_of(schema: dict[str, Any], doc: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The object whose fields a table lists, and how the body holds it (one, or a list)."""
    schema = _resolve(schema, doc)
    variants = schema.get("anyOf") or schema.get("oneOf") or ()
    shapes = [v for v in variants if v.get("properties")]
    lists = [v for v in variants if v.get("type") == "array"]
    if shapes and lists:
        most = lists[0].get("maxItems")
        return shapes[0], (f"one object, or an array of up to {most} of them"
                           if most else "one object, or an array of them")
    if shapes:
        return shapes[0], ""
    return schema, ""


def _rows(schema: dict[str, Any], doc: dict[str, Any], answer: bool,
          prefix: str = "") -> list[str]:
    """One row per field; the fields of nested objects follow as ``parent.child`` (an array of
    objects as ``parent[].child``)."""
    props = schema.get("properties", {})
    required = set(schema.get("required", ()))
    rows = []
    for name, prop in props.items():
        needed = "" if answer else f"{'yes' if name in required else ''} | "
        rows.append(f"| `{prefix}{name}` | {_schema_summary(prop, doc)} | {needed}"
                    f"{_one_line(prop.get('description', ''))} |")
        inner = _resolve(prop, doc)
        if inner.get("type") == "array":
            inner, mark = _resolve(inner.get("items", {}), doc), "[]."
        else:
            mark = "."
        if inner.get("properties"):
            rows += _rows(inner, doc, answer, f"{prefix}{name}{mark}")
    return rows


def _fields(schema: dict[str, Any], doc: dict[str, Any], answer: bool = False) -> list[str]:
    shape, _ = _object_of(schema, doc)
    if not shape.get("properties"):
        return []
    if answer:  # what the API sends: every field is there (null when it has no value)
        return ["| Field | Type | Description |", "| --- | --- | --- |",
                *_rows(shape, doc, answer)]
    return ["| Field | Type | Required | Description |", "| --- | --- | --- | --- |",
            *_rows(shape, doc, answer)]


def _answer_items(op: dict[str, Any]) -> dict[str, Any]:
    """The schema of ``data[]`` in the operation's first success answer (``envelope_of``)."""
    for code, resp in op.get("responses", {}).items():
        if code.startswith("2"):
            schema = resp.get("content", {}).get("application/json", {}).get("schema", {})
            for part in schema.get("allOf", ()):
                items = part.get("properties", {}).get("data", {}).get("items")
                if items:
                    return dict(items)
    return {}


def _parameters(op: dict[str, Any], doc: dict[str, Any]) -> list[str]:
    params = op.get("parameters", [])
    if not params:
        return []
    out = ["| Parameter | In | Type | Required | Description |",
           "| --- | --- | --- | --- | --- |"]
    for p in params:
        out.append(f"| `{p['name']}` | {p.get('in', '')} | "
                   f"{_schema_summary(p.get('schema', {}), doc)} | "
                   f"{'yes' if p.get('required') else ''} | "
                   f"{_one_line(p.get('description', ''))} |")
    return [*out, ""]


def _responses(op: dict[str, Any]) -> list[str]:
    responses = op.get("responses", {})
    if not responses:
        return []
    out = ["| Status | Meaning | Headers |", "| --- | --- | --- |"]
    for code, resp in responses.items():
        headers = ", ".join(f"`{h}`" for h in resp.get("headers", {}))
        out.append(f"| {code} | {_one_line(resp.get('description', ''))} | {headers} |")
    out.append("")
    for code, resp in responses.items():  # headers beyond X-Request-Id, explained once
        for name, header in resp.get("headers", {}).items():
            if name != "X-Request-Id" and code.startswith("2"):
                out += [f"`{name}` ({code}): {_one_line(header.get('description', ''))}", ""]
    return out


def render_endpoints(doc: dict[str, Any]) -> str:
    out: list[str] = []
    for path, operations in doc.get("paths", {}).items():
        for method in METHOD_ORDER:
            op = operations.get(method)
            if op is None:
                continue
            out += [f"### `{method.upper()} {path}`", ""]
            if op.get("summary"):
                out += [f"**{_one_line(op['summary'])}**", ""]
            if op.get("description"):
                out += [op["description"].strip(), ""]
            out += _parameters(op, doc)
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
            rows = _fields(body.get("schema", {}), doc)
            if rows:
                _, shape = _object_of(body.get("schema", {}), doc)
                out += [f"Request body (JSON{': ' + shape if shape else ''}):", "", *rows, ""]
            else:
                out += ["Request body: none.", ""]
            rows = _fields(_answer_items(op), doc, answer=True)
            if rows:
                out += ["Answer: the envelope; each item of `data`:", "", *rows, ""]
            out += _responses(op)
    return "\n".join(out).rstrip() + "\n"


def splice(page: str, generated: str) -> str:
    head, found, rest = page.partition(BEGIN)
    if not found:
        raise SystemExit(f"{REFERENCE} has no '{BEGIN}' marker")
    _, found, tail = rest.partition(END)
    if not found:
        raise SystemExit(f"{REFERENCE} has no '{END}' marker")
    return f"{head}{BEGIN}\n\n{generated}\n{END}{tail}"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="base URL of a running API (default: build in-process)")
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    page = REFERENCE.read_text()
    updated = splice(page, render_endpoints(fetch_openapi(args.url)))
    if args.check:
        if updated != page:
            print("docs/api-reference.md is stale: run python docs/gen_reference.py",
                  file=sys.stderr)
            return 1
        return 0
    REFERENCE.write_text(updated)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
