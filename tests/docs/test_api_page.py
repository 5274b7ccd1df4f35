"""``/docs``: the interactive reference is served by the API from the installed Swagger UI files,
with every script, style sheet and the OpenAPI document on the API's own origin."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from producer.app import create_app

BASE = "http://pushflow.test"


class Resources(HTMLParser):
    """The URLs a browser fetches to build the page: scripts, style sheets, icons."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        url = found.get("src") if tag == "script" else found.get("href") if tag == "link" else None
        if url:
            self.urls.append(url)


@pytest.fixture()
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app())
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
        yield client


async def test_docs_page_loads_everything_from_the_api_itself(client: httpx.AsyncClient) -> None:
    page = await client.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    parser = Resources()
    parser.feed(page.text)
    assert len(parser.urls) >= 3, parser.urls  # icon, style sheet, Swagger UI, start script
    for url in parser.urls:
        absolute = urljoin(f"{BASE}/docs", url)
        assert urlsplit(absolute).netloc == urlsplit(BASE).netloc, f"{url} is not local"
        asset = await client.get(absolute)
        assert asset.status_code == 200, url
        assert asset.content, url
    kinds = {urlsplit(u).path.rsplit(".", 1)[-1] for u in parser.urls}
    assert {"css", "js"} <= kinds


async def test_swagger_ui_reads_the_local_openapi_document(client: httpx.AsyncClient) -> None:
    start = await client.get("/docs/start.js")
    assert start.status_code == 200
    assert "://" not in start.text  # no absolute URL: no other host
    assert 'url: "openapi.json"' in start.text and "validatorUrl: null" in start.text
    document = await client.get(urljoin(f"{BASE}/docs", "openapi.json"))
    assert document.status_code == 200 and document.json()["openapi"].startswith("3.")
    bundle = await client.get("/docs/assets/swagger-ui-bundle.js")
    assert "SwaggerUIBundle" in bundle.text


async def test_an_unknown_asset_is_an_enveloped_404(client: httpx.AsyncClient) -> None:
    missing = await client.get("/docs/assets/nothing-here.js")
    assert missing.status_code == 404
    assert missing.json()["errors"][0]["code"] == "NOT_FOUND"


def test_the_api_reads_the_files_without_importing_their_django_app() -> None:
    check = ("import sys; from producer.app import create_app; create_app(); "
             "sys.exit('django' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", check], capture_output=True).returncode == 0
