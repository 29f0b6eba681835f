"""The SSRF guard: loopback, private, link-local, multicast and unspecified addresses are
refused unless private networks are allowed; public ones pass."""

from __future__ import annotations

import ipaddress

import pytest

from voxline.net.ssrf import UnsafeUrl, check_url, is_public_address

REFUSED = [
    "https://127.0.0.1/x",
    "https://127.8.9.1:8443/x",
    "https://10.0.0.7/x",
    "https://172.16.3.4/x",
    "https://192.168.1.1/x",
    "https://169.254.169.254/latest/meta-data",
    "https://[::1]/x",
    "https://[fe80::1]/x",
    "https://[fd00::1]/x",
    "https://[::ffff:10.0.0.1]/x",
    "https://224.0.0.1/x",
    "https://0.0.0.0/x",
    "https://[::]/x",
    "https://100.64.0.1/x",
    "https://localhost/x",
]


@pytest.mark.parametrize("url", REFUSED)
async def test_private_destinations_are_refused(url: str) -> None:
    with pytest.raises(UnsafeUrl):
        await check_url(url, allow_http=True, allow_private=False)
    await check_url(url, allow_http=True, allow_private=True)


@pytest.mark.parametrize(
    "url", ["https://8.8.8.8/hook", "https://[2606:4700:4700::1111]/hook", "http://1.1.1.1:8080/"]
)
async def test_public_destinations_pass(url: str) -> None:
    await check_url(url, allow_http=True, allow_private=False)


@pytest.mark.parametrize(
    "url",
    ["ftp://8.8.8.8/", "https:///nohost", "https://u:p@8.8.8.8/", "https://8.8.8.8:99999/", "x"],
)
async def test_malformed_urls_are_refused_even_on_private_networks(url: str) -> None:
    with pytest.raises(UnsafeUrl):
        await check_url(url, allow_http=True, allow_private=True)


async def test_http_needs_allow_http() -> None:
    with pytest.raises(UnsafeUrl, match="https"):
        await check_url("http://8.8.8.8/", allow_http=False, allow_private=False)
    await check_url("https://8.8.8.8/", allow_http=False, allow_private=False)


async def test_unresolvable_hosts_are_refused() -> None:
    with pytest.raises(UnsafeUrl, match="resolve"):
        await check_url("https://no-such-host.invalid/", allow_http=True, allow_private=False)


def test_public_address() -> None:
    assert is_public_address(ipaddress.ip_address("93.184.215.14"))
    assert not is_public_address(ipaddress.ip_address("::ffff:127.0.0.1"))
