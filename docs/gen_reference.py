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


def _schema_summary(schema: dict[str, Any], doc: dict[str, Any]) -> str:
    if "$ref" in schema:
        return "`" + str(schema["$ref"]).rsplit("/", 1)[-1] + "`"
    variants = schema.get("anyOf") or schema.get("oneOf")
    if variants:  # ``X | None`` is an optional X: the table's Required column says so
        return " or ".join(_schema_summary(v, doc) for v in variants if v.get("type") != "null")
    kind = schema.get("type", "object")
    if kind == "array":
        return f"array of {_schema_summary(schema.get('items', {}), doc)}"
    if "enum" in schema:
        return " \\| ".join(f"`{v}`" for v in schema["enum"])
    return f"`{kind}`"


def _one_line(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _fields(schema: dict[str, Any], doc: dict[str, Any]) -> list[str]:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = doc.get("components", {}).get("schemas", {}).get(name, {})
    for variant in schema.get("anyOf") or schema.get("oneOf") or ():
        if variant.get("properties"):  # one object or a list of them: the object's fields
            schema = variant
            break
    props = schema.get("properties", {})
    if not props:
        return []
    required = set(schema.get("required", ()))
    rows = ["| Field | Type | Required | Description |", "| --- | --- | --- | --- |"]
    for name, prop in props.items():
        rows.append(f"| `{name}` | {_schema_summary(prop, doc)} | "
                    f"{'yes' if name in required else ''} | "
                    f"{_one_line(prop.get('description', ''))} |")
    return rows


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
            params = op.get("parameters", [])
            if params:
                out += ["| Parameter | In | Type | Required | Description |",
                        "| --- | --- | --- | --- | --- |"]
                for p in params:
                    out.append(f"| `{p['name']}` | {p.get('in', '')} | "
                               f"{_schema_summary(p.get('schema', {}), doc)} | "
                               f"{'yes' if p.get('required') else ''} | "
                               f"{_one_line(p.get('description', ''))} |")
                out.append("")
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
            rows = _fields(body.get("schema", {}), doc)
            if rows:
                out += ["Request body (JSON):", "", *rows, ""]
            responses = op.get("responses", {})
            if responses:
                out += ["| Status | Meaning |", "| --- | --- |"]
                for code, resp in responses.items():
                    out.append(f"| {code} | {_one_line(resp.get('description', ''))} |")
                out.append("")
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
