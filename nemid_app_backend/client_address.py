"""The address of the client that made a request, behind zero or more trusted reverse proxies.

`X-Forwarded-For` is written by whoever sends the request, so it is believed only from a peer
listed in the setting `NEMID_TRUSTED_PROXIES` (addresses or networks; none by default). From such
a peer, the header is read from the right, skipping the trusted proxies' own entries; the first
address that is not a trusted proxy is the client. An untrusted peer is itself the client, whatever
the header says: a new header value per try gives a caller no new identity.

The ASGI server may have done the same already (uvicorn `--forwarded-allow-ips`, gunicorn
`--forwarded-allow-ips`): it then hands Django the client's address as the peer, which is not a
trusted proxy, and this module returns it unchanged. Give both the same list of proxy addresses.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Mapping
from typing import Any

from django.conf import settings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@functools.lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries if entry.strip())


def trusted_proxies() -> tuple[Network, ...]:
    """The networks of NEMID_TRUSTED_PROXIES; a malformed entry is a configuration error (ValueError)."""
    return _networks(tuple(getattr(settings, "NEMID_TRUSTED_PROXIES", ())))


def _address(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    value = value.strip()
    if value.startswith("[") and "]" in value:  # "[2001:db8::1]:443"
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:  # "192.0.2.1:443"
        value = value.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(value.split("%", 1)[0])
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped or address


def client_address(meta: Mapping[str, Any]) -> str:
    """The client's address for a request's META (REMOTE_ADDR and HTTP_X_FORWARDED_FOR), as a string."""
    peer = _address(str(meta.get("REMOTE_ADDR") or ""))
    if peer is None:
        return str(meta.get("REMOTE_ADDR") or "unknown")
    proxies = trusted_proxies()

    def trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        return any(address.version == network.version and address in network for network in proxies)

    if not proxies or not trusted(peer):
        return str(peer)
    client = peer
    for entry in reversed(str(meta.get("HTTP_X_FORWARDED_FOR") or "").split(",")):
        hop = _address(entry)
        if hop is None:
            break  # not an address our proxy wrote: stop at the last hop we can believe
        client = hop
        if not trusted(hop):
            break
    return str(client)
