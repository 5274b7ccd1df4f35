"""The OAuth token request goes through PUSHFLOW_GATEWAY_CA_FILE like every other connection to
a gateway: Google's token endpoint is HTTPS, so here the sandbox's token endpoint is put behind
TLS with the sandbox's own server certificate (signed by the sandbox CA the setting names)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import threading
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from sandbox.testing import SandboxProcess
from shared.credentials import FcmServiceAccount, parse_fcm_service_account
from tests.workers.fcm.test_gateway import new_gateway, run, send
from workers.delivery.outcomes import Accepted
from workers.delivery.testing import fcm_token, make_job
from workers.fcm.oauth import AccessTokens, OAuthFailed


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()


@contextlib.contextmanager
def tls_token_endpoint(sandbox: SandboxProcess) -> Iterator[str]:
    """``https://127.0.0.1:PORT``: TLS (the sandbox's certificate) in front of its OAuth port."""
    upstream = urlsplit(sandbox.oauth_url)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(sandbox.state_dir / "server.pem", sandbox.state_dir / "server-key.pem")
    loop = asyncio.new_event_loop()

    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(upstream.hostname, upstream.port)
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer),
                             return_exceptions=True)

    server = loop.run_until_complete(asyncio.start_server(relay, "127.0.0.1", 0, ssl=context))
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        server.close()


@pytest.fixture()
def tls_account(sandbox: SandboxProcess) -> Iterator[FcmServiceAccount]:
    info = json.loads(sandbox.service_account_file.read_bytes())
    with tls_token_endpoint(sandbox) as url:
        yield parse_fcm_service_account(json.dumps({**info, "token_uri": url + "/token"}).encode())


def test_the_gateway_gets_its_token_over_tls_trusting_the_gateway_ca_file(
        sandbox: SandboxProcess, tls_account: FcmServiceAccount) -> None:
    issued = sandbox.stats()["oauth"]["tokensIssued"]
    [outcome] = run(send(new_gateway(), tls_account, [make_job(1, "android", fcm_token())]))
    assert isinstance(outcome, Accepted), outcome
    assert sandbox.stats()["oauth"]["tokensIssued"] == issued + 1


def test_without_the_ca_file_the_token_endpoint_is_not_trusted(
        tls_account: FcmServiceAccount) -> None:
    with pytest.raises(OAuthFailed, match="CERTIFICATE_VERIFY_FAILED") as failure:
        run(AccessTokens(None).token(tls_account))
    assert not failure.value.refused  # unreachable (retried), not a refused credential
