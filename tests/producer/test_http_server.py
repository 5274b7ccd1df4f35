"""The HTTP/1.1 layer of a real ``pushflow api`` process (producer/http_server.py), spoken to
over raw sockets and by the JDK's own ``HttpClient``: upgrade requests keep their body, the
request head is bounded in size, field count and time, and every refusal is an envelope on a
closed connection."""

from __future__ import annotations

import json
import select
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.producer.conftest import api_process, assert_envelope, ios_token

HEAD_TIMEOUT = 1.0
LIMITS = {"PUSHFLOW_API_HEADER_TIMEOUT_SECONDS": str(HEAD_TIMEOUT),
          "PUSHFLOW_API_MAX_HEADER_BYTES": "4096", "PUSHFLOW_API_MAX_HEADERS": "20"}


@pytest.fixture(scope="module")
def api_port(pushflow_env: dict[str, str]) -> Iterator[int]:
    with api_process(LIMITS) as (url, _proc):
        yield int(url.rsplit(":", 1)[1])


class Connection:
    """One raw TCP connection to the API."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buffer = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def response(self) -> httpx.Response:
        """The next whole response (Content-Length framed, as every API answer is)."""
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = [(name.strip(), value.strip())
                   for name, value in (line.split(":", 1) for line in lines)]
        length = int({k.lower(): v for k, v in headers}["content-length"])
        while len(self.buffer) < length:
            self._fill()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return httpx.Response(int(status_line.split()[1]), headers=headers, content=body)

    def closed_by_server(self) -> bool:
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed by the server after {self.buffer!r}")
        self.buffer += chunk

    def close(self) -> None:
        self.sock.close()


@pytest.fixture()
def connect(api_port: int) -> Iterator[Any]:
    opened: list[Connection] = []

    def factory() -> Connection:
        opened.append(Connection(api_port))
        return opened[-1]

    yield factory
    for conn in opened:
        conn.close()


def push_request(app: Any, *extra_headers: str, body: bytes | None = None) -> tuple[bytes, bytes]:
    """(head, body) of a valid one-token push by ``app``."""
    body = body or json.dumps({"device_tokens": [ios_token()], "content": "kept"}).encode()
    lines = ["POST /v2.1/push HTTP/1.1", "Host: 127.0.0.1",
             f"Authorization: {app.secret}", f"Application-Key: {app.app_key}",
             "Content-Type: application/json", f"Content-Length: {len(body)}", *extra_headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode(), body


def refused(conn: Connection, status: int, code: str) -> dict[str, Any]:
    response = conn.response()
    assert response.status_code == status, response.text
    assert response.headers["connection"] == "close"
    envelope = assert_envelope(response)
    assert [e["code"] for e in envelope["errors"]] == [code]
    assert conn.closed_by_server()
    return envelope


H2C = ("Connection: Upgrade, HTTP2-Settings", "Upgrade: h2c", "HTTP2-Settings: AAEAAEAAAAIAAAAA")
WEBSOCKET = ("Connection: Upgrade", "Upgrade: websocket", "Sec-WebSocket-Version: 13",
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==")


@pytest.mark.parametrize("upgrade", [H2C, WEBSOCKET], ids=["h2c", "websocket"])
@pytest.mark.parametrize("split", [False, True], ids=["one-write", "body-later"])
def test_an_upgrade_request_is_served_as_http1_with_its_body(
    make_app: Any, connect: Any, upgrade: tuple[str, ...], split: bool
) -> None:
    app = make_app()
    conn = connect()
    head, body = push_request(app, *upgrade)
    if split:
        conn.send(head)
        time.sleep(0.2)
        conn.send(body)
    else:
        conn.send(head + body)
    response = conn.response()
    assert response.status_code == 202, response.text
    assert assert_envelope(response)["data"][0]["messageId"]
    # The connection stays HTTP/1.1 and usable.
    conn.send(b"".join(push_request(app)))
    assert conn.response().status_code == 202


def test_a_request_pipelined_after_an_upgrade_request_is_answered(
    make_app: Any, connect: Any
) -> None:
    app = make_app()
    conn = connect()
    conn.send(b"".join(push_request(app, *H2C)) + b"".join(push_request(app)))
    assert [conn.response().status_code for _ in range(2)] == [202, 202]


def test_curl_http2_on_plain_http_pushes(make_app: Any, api_port: int) -> None:
    app = make_app()
    done = subprocess.run(
        ["curl", "--silent", "--show-error", "--http2", "--verbose",
         f"http://127.0.0.1:{api_port}/v2.1/push", "-H", f"Authorization: {app.secret}",
         "-H", f"Application-Key: {app.app_key}", "-H", "Content-Type: application/json",
         "-d", json.dumps({"device_tokens": [ios_token()], "content": "from curl"})],
        capture_output=True, text=True, timeout=30)
    assert "> Upgrade: h2c" in done.stderr  # curl did ask for the upgrade
    assert json.loads(done.stdout)["meta"]["status"] == 202, done.stdout


def test_the_jdk_http_client_pushes(make_app: Any, api_port: int, tmp_path: Path) -> None:
    if shutil.which("javac") is None:
        pytest.fail("javac is needed (default-jdk-headless; .ci/run installs it)")
    app = make_app()
    # HttpClient's default version is HTTP_2: on http:// it asks for h2c with every request.
    (tmp_path / "Push.java").write_text("""
import java.net.URI;
import java.net.http.*;
public class Push {
    public static void main(String[] a) throws Exception {
        HttpRequest request = HttpRequest.newBuilder(URI.create(a[0]))
            .header("Authorization", a[1]).header("Application-Key", a[2])
            .header("Content-Type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString(a[3])).build();
        HttpResponse<String> r = HttpClient.newHttpClient()
            .send(request, HttpResponse.BodyHandlers.ofString());
        System.out.println(r.statusCode() + " " + r.version() + " " + r.body());
    }
}
""")
    subprocess.run(["javac", "Push.java"], cwd=tmp_path, check=True, timeout=120)
    body = json.dumps({"device_tokens": [ios_token()], "content": "from java"})
    done = subprocess.run(
        ["java", "-cp", str(tmp_path), "Push", f"http://127.0.0.1:{api_port}/v2.1/push",
         app.secret, app.app_key, body], capture_output=True, text=True, timeout=60)
    status, version, answer = done.stdout.split(" ", 2)
    assert (status, version) == ("202", "HTTP_1_1"), done.stdout + done.stderr
    assert json.loads(answer)["data"][0]["messageId"]


def test_too_many_header_bytes_is_431(make_app: Any, connect: Any) -> None:
    conn = connect()
    head, body = push_request(make_app(), "X-Padding: " + "a" * 5000)
    conn.send(head + body)
    refused(conn, 431, "HEADERS_TOO_LARGE")


def test_one_endless_header_line_is_431_before_it_ends(connect: Any) -> None:
    conn = connect()
    conn.send(b"POST /v2.1/push HTTP/1.1\r\nX-Padding: ")
    sent = 0
    # No end of line: httptools would collect the field without bound.
    while not select.select([conn.sock], [], [], 0.02)[0]:
        assert sent < 8192, "no answer past the limit"
        conn.send(b"a" * 512)
        sent += 512
    refused(conn, 431, "HEADERS_TOO_LARGE")


def test_too_many_header_fields_is_431(make_app: Any, connect: Any) -> None:
    conn = connect()
    head, body = push_request(make_app(), *(f"X-Field-{i}: {i}" for i in range(20)))
    conn.send(head + body)
    refused(conn, 431, "HEADERS_TOO_LARGE")


def test_a_head_sent_too_slowly_is_408(connect: Any) -> None:
    conn = connect()
    started = time.monotonic()
    # Drip-fed, one byte at a time: each byte arrives, but the deadline is not renewed.
    drip = iter(b"POST /v2.1/push HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-Slow: yes\r\n" * 50)
    while not select.select([conn.sock], [], [], 0.05)[0]:
        assert time.monotonic() - started < HEAD_TIMEOUT + 2, "the slow head was not cut off"
        conn.send(bytes([next(drip)]))
    refused(conn, 408, "REQUEST_TIMEOUT")
    assert time.monotonic() - started >= HEAD_TIMEOUT - 0.1


def test_a_connection_that_sends_nothing_is_closed_after_the_head_timeout(connect: Any) -> None:
    conn = connect()
    started = time.monotonic()
    refused(conn, 408, "REQUEST_TIMEOUT")
    assert time.monotonic() - started < HEAD_TIMEOUT + 2


def test_an_idle_keep_alive_connection_gets_its_full_head_time(
    make_app: Any, connect: Any
) -> None:
    app = make_app()
    conn = connect()
    conn.send(b"".join(push_request(app)))
    assert conn.response().status_code == 202
    time.sleep(HEAD_TIMEOUT * 1.5)  # idle under uvicorn's keep-alive, longer than a head may take
    head, body = push_request(app)
    conn.send(head[:20])
    time.sleep(HEAD_TIMEOUT / 2)
    conn.send(head[20:] + body)
    assert conn.response().status_code == 202


@pytest.mark.parametrize("request_bytes", [
    b"GARBAGE\r\n\r\n",
    b"POST /v2.1/push HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
    b"GET /v2.1/push HTTP/1.1\r\nBad Header: x\r\n\r\n",
    b"CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n",
], ids=["not-http", "two-lengths", "space-in-name", "connect"])
def test_a_request_that_is_not_http_gets_an_envelope(connect: Any, request_bytes: bytes) -> None:
    conn = connect()
    conn.send(request_bytes)
    response = conn.response()
    assert response.status_code in (400, 405), response.text
    assert response.headers["connection"] == "close"
    assert len(assert_envelope(response)["errors"]) == 1
    assert conn.closed_by_server()


def test_a_trailing_slash_is_never_redirected_to_the_host_header(
    make_app: Any, connect: Any
) -> None:
    conn = connect()
    head, body = push_request(make_app())
    head = head.replace(b"/v2.1/push ", b"/v2.1/push/ ").replace(b"Host: 127.0.0.1",
                                                                    b"Host: evil.example")
    conn.send(head + body)
    response = conn.response()
    assert "evil.example" not in response.headers.get("location", "")
    assert response.status_code == 404, response.text
    assert [e["code"] for e in assert_envelope(response)["errors"]] == ["NOT_FOUND"]
