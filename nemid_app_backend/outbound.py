"""The one rule for HTTP requests this service makes to the outside world.

Every outbound request (webhook deliveries, CIBA pings, Web Push endpoints, FCM and APNs) goes
through `outbound_client()`, and every URL a caller hands us to call later (a relying party's
callback URL, a browser's push endpoint, a CIBA notification endpoint) is checked by
`validate_outbound_url()` when it is given. The rule, written once here:

- The host is resolved, and the request is refused if the host is, or any of its addresses is,
  loopback, private, link-local, unique-local, unspecified, multicast, reserved or otherwise not
  globally reachable (IPv4 embedded in IPv6 counts as the IPv4 address it embeds). A refusal
  happens before any socket is opened.
- The connection goes to the very address that was checked: the URL is rewritten to that address
  while the Host header and TLS server name (SNI, and certificate verification) keep the name, so
  a DNS answer that changes between the check and the connect (DNS rebinding) cannot redirect it.
- Redirects are never followed: a 3xx is an answer like any other non-2xx.
- Hosts listed in the setting `NEMID_WEBHOOK_HTTP_HOSTS` (development and tests) are exempt from
  the address check and may be called over plain http; they are the only way to reach a local host.
"""

from __future__ import annotations

import collections
import ipaddress
import socket
import ssl
import threading
from typing import Any
from urllib.parse import urlsplit

import certifi
import httpx
from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import URLValidator

from nemid_app_backend.exceptions import ValidationError

OUTBOUND_URL_MAX_LENGTH = 2000
_url_validator = URLValidator(schemes=["http", "https"])

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# The resolver, one indirection away so that tests can answer for made-up names.
_getaddrinfo = socket.getaddrinfo

_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


class DestinationRefused(httpx.TransportError):
    """The destination is not one this service may call; nothing was sent."""


def development_hosts() -> frozenset[str]:
    """Host names (lower case) exempt from the address rule and allowed plain http: development only."""
    return frozenset(host.strip().lower().strip("[]") for host in getattr(settings, "NEMID_WEBHOOK_HTTP_HOSTS", []) if host)


def address_refusal(address: IPAddress) -> str | None:
    """Why this address may not be called, or None when it is a globally reachable unicast address."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and any(address in network for network in _NAT64):
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:  # an IPv4 address carried in IPv6 reaches what the IPv4 address reaches
            return address_refusal(embedded)
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if isinstance(address, ipaddress.IPv6Address) and address in ipaddress.ip_network("fc00::/7"):
        return "a unique-local address"
    if address.is_private:
        return "a private address"
    if address.is_reserved or not address.is_global:
        return "a reserved or non-global address"
    return None


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def resolve(host: str, port: int) -> list[IPAddress]:
    """The host's addresses, in the resolver's order (an IP literal is its own single address).
    Raises socket.gaierror (an OSError) when the name does not resolve."""
    literal = _literal(host)
    if literal is not None:
        return [literal]
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _canonname, sockaddr in _getaddrinfo(host, port, type=socket.SOCK_STREAM):
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise socket.gaierror(f"{host} has no address")
    return addresses


def destination_check(host: str, port: int) -> list[IPAddress]:
    """Resolve `host` once and return its addresses if every one may be called; raise
    DestinationRefused otherwise (or when it does not resolve). Opens no connection."""
    host = host.lower().strip("[]")
    try:
        addresses = resolve(host, port)
    except (OSError, UnicodeError) as exc:
        raise DestinationRefused(f"{host} does not resolve") from exc
    if host in development_hosts():
        return addresses
    for address in addresses:
        reason = address_refusal(address)
        if reason is not None:
            raise DestinationRefused(f"{host} is or resolves to {reason}")
    return addresses


def validate_outbound_url(url: Any, *, field: str) -> str:
    """A URL the service will call later (webhook callback, push endpoint, CIBA notification
    endpoint): an absolute https URL without credentials or fragment (plain http only to the
    development hosts), whose host is not, and does not resolve to, an address `address_refusal`
    refuses (development hosts excepted). A name that does not resolve now is accepted: it is
    checked again, by the same rule, on every request made to it.

    Returns the URL unchanged; raises ValidationError({field: [message]}) otherwise."""

    def invalid(message: str) -> ValidationError:
        return ValidationError({field: [message]})

    if not isinstance(url, str):
        raise invalid("Must be a URL string.")
    if len(url) > OUTBOUND_URL_MAX_LENGTH:
        raise invalid(f"At most {OUTBOUND_URL_MAX_LENGTH} characters.")
    try:
        _url_validator(url)
        parts = urlsplit(url)
        hostname = (parts.hostname or "").lower()
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except (DjangoValidationError, ValueError) as exc:  # ValueError: a port out of range
        raise invalid("Must be a valid absolute URL.") from exc
    if parts.username is not None or parts.password is not None:
        raise invalid("Must not contain credentials.")
    if parts.fragment:
        raise invalid("Must not contain a fragment.")
    development = hostname in development_hosts()
    if parts.scheme != "https" and not development:
        raise invalid("Must use https (plain http only to hosts listed in NEMID_WEBHOOK_HTTP_HOSTS).")
    if development:
        return url
    try:
        addresses = resolve(hostname, port)
    except (OSError, UnicodeError):
        return url
    for address in addresses:
        reason = address_refusal(address)
        if reason is not None:
            raise invalid(
                f"The host is or resolves to {reason}, which this service never calls "
                "(only hosts listed in NEMID_WEBHOOK_HTTP_HOSTS are exempt)."
            )
    return url


class GuardedTransport(httpx.BaseTransport):
    """An httpx transport that applies the rule above to every request it sends.

    It checks the destination, rewrites the request to the checked address (keeping the Host
    header and, for https, the TLS server name through httpx's `sni_hostname` extension), and
    hands it to a plain `httpx.HTTPTransport` kept per origin name, so that a connection made
    (and a certificate verified) for one name is never reused for another name that happens to
    share its address. All of them share one TLS context: building one costs tens of ms of CPU."""

    MAX_ORIGINS = 64

    def __init__(self, *, http1: bool = True, http2: bool = False) -> None:
        self._http1, self._http2 = http1, http2
        self._ssl_context = ssl.create_default_context(cafile=certifi.where())
        self._lock = threading.Lock()
        self._transports: collections.OrderedDict[tuple[str, str, int], httpx.HTTPTransport] = collections.OrderedDict()

    def _transport_for(self, origin: tuple[str, str, int]) -> httpx.HTTPTransport:
        with self._lock:
            transport = self._transports.get(origin)
            if transport is not None:
                self._transports.move_to_end(origin)
                return transport
            transport = httpx.HTTPTransport(
                verify=self._ssl_context, http1=self._http1, http2=self._http2, trust_env=False, retries=0
            )
            self._transports[origin] = transport
            evicted = self._transports.popitem(last=False)[1] if len(self._transports) > self.MAX_ORIGINS else None
        if evicted is not None:
            evicted.close()
        return transport

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        scheme, host = request.url.scheme, request.url.host
        port = request.url.port or (443 if scheme == "https" else 80)
        if scheme not in ("http", "https"):
            raise DestinationRefused(f"scheme {scheme} is not allowed", request=request)
        try:
            addresses = destination_check(host, port)
        except DestinationRefused as exc:
            raise DestinationRefused(str(exc), request=request) from exc
        if scheme == "https":
            request.extensions = {**request.extensions, "sni_hostname": host}
        transport = self._transport_for((scheme, host, port))
        named_url = request.url
        for index, address in enumerate(addresses):
            request.url = named_url.copy_with(host=str(address))
            try:
                return transport.handle_request(request)
            except httpx.ConnectError:
                if index == len(addresses) - 1:
                    raise
        raise AssertionError("unreachable: destination_check returns at least one address")

    def close(self) -> None:
        with self._lock:
            transports = list(self._transports.values())
            self._transports.clear()
        for transport in transports:
            transport.close()


def outbound_client(*, timeout: float, http1: bool = True, http2: bool = False) -> httpx.Client:
    """An httpx client that follows the rule above; it never follows redirects. Keep one per
    process and purpose (connections are pooled per origin)."""
    return httpx.Client(
        transport=GuardedTransport(http1=http1, http2=http2), timeout=timeout, follow_redirects=False, trust_env=False
    )
