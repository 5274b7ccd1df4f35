"""Webhook URLs when saved (domain/webhooks/urls.py): the shape check, the host in the form
the HTTP client connects to, and the save-time resolution that refuses non-public addresses."""

from __future__ import annotations

import pytest

from domain.webhooks.urls import UrlRejected, check_shape, check_url
from tests.domain.webhooks.loopback import LOOPBACK_SPELLINGS, local_name


@pytest.mark.parametrize("url", ["ftp://x.example/h", "http://x.example/h", "https://",
                                 "https://user:pw@x.example/h", "https://x.example:99999/h",
                                 "https://x.example/" + "a" * 3000, "",
                                 "https://a..\u00e4.example/h",  # invalid IDNA: not UnicodeError
                                 "https://" + "a" * 64 + ".example/h"])
def test_bad_shapes_are_rejected(url):
    for allow_private in (False, True):
        with pytest.raises(UrlRejected) as caught:
            check_shape(url, allow_http=False, allow_private=allow_private)
        assert not caught.value.non_public


def test_check_shape_returns_the_host_the_client_connects_to():
    assert check_shape("https://B\u00fccher.example./h", allow_http=False,
                       allow_private=False) == ("xn--bcher-kva.example.", 443)
    assert check_shape("http://\uff11\uff12\uff17\u30020\u30020\u30021:81/", allow_http=True,
                       allow_private=True) == ("127.0.0.1", 81)


async def test_save_time_check_resolves_names():
    await check_url("https://8.8.8.8/hook", allow_http=False, allow_private=False)
    for url in ("https://127.0.0.1/hook", "https://localhost:8443/hook",
                "https://[::1]/hook", "https://169.254.169.254/latest/meta-data",
                *(f"https://{host}/hook" for host in LOOPBACK_SPELLINGS)):
        with pytest.raises(UrlRejected, match="non-public"):
            await check_url(url, allow_http=False, allow_private=False)
    name = local_name()
    if name is not None:  # a name resolving to our own network: refused without naming it
        with pytest.raises(UrlRejected, match=r"non-public address \(its name resolves") as e:
            await check_url(f"https://{name}/hook", allow_http=False, allow_private=False)
        assert not any(ch.isdigit() for ch in str(e.value))
    await check_url("http://localhost:8080/hook", allow_http=True, allow_private=True)
    with pytest.raises(UrlRejected, match="IDNA"):  # invalid even where private is allowed
        await check_url("http://a..\u00e4.example/h", allow_http=True, allow_private=True)
