"""The SSRF guard: which URLs and addresses signoff may call.

A URL must be http(s), carry no credentials and no control characters, and its host
must resolve only to global unicast addresses. Loopback, private, link-local, cloud
metadata, multicast, unspecified and other non-global addresses are refused unless
the operator allow-lists the host name or a CIDR (`SIGNOFF_OUTBOUND__ALLOW`). The
metadata addresses are only reachable when listed exactly, never through a range.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from signoff.domain import errors

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Cloud instance-metadata endpoints (AWS, GCP, Azure, OpenStack; AWS over IPv6).
METADATA_ADDRESSES = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_CONTROL = frozenset(chr(c) for c in range(0x21)) | {"\x7f"}


class OutboundRefused(errors.InvalidWorkflow):
    """signoff may not call this destination or read this credential."""

    code = "outbound_refused"


@dataclass(frozen=True)
class OutboundPolicy:
    """Host names and networks that may be called although they are not global."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, allow: str) -> OutboundPolicy:
        """Parse `host,10.0.0.0/8,127.0.0.1`; ValueError names an entry that is neither."""
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for raw in allow.split(","):
            entry = raw.strip().lower()
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
                continue
            except ValueError:
                pass
            if "/" in entry or not _looks_like_host(entry):
                raise ValueError(f"{raw.strip()!r} is neither a host name nor a CIDR")
            hosts.add(entry.rstrip("."))
        return cls(frozenset(hosts), tuple(networks))

    def host_allowed(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.hosts

    def address_allowed(self, address: IPAddress) -> bool:
        """Whether signoff may connect to `address` (after resolving a host that is not listed)."""
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if address in METADATA_ADDRESSES:
            return any(n.num_addresses == 1 and address in n for n in self.networks)
        if is_public(address):
            return True
        return any(address.version == n.version and address in n for n in self.networks)


def is_public(address: IPAddress) -> bool:
    """A global unicast address (IPv4 inside IPv6 judged as the IPv4 it carries)."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or (
            ipaddress.IPv4Address(int(address) & 0xFFFFFFFF) if address in _NAT64 else None
        )
        if embedded is not None:
            return is_public(embedded)
    return (
        address.is_global
        and not address.is_multicast
        and not address.is_reserved
        and not address.is_link_local
        and not address.is_loopback
        and not address.is_unspecified
        and address not in METADATA_ADDRESSES
    )


def check_url(url: str, field: str) -> str:
    """The URL's host after the static checks; OutboundRefused names `field` otherwise."""
    if any(ch in _CONTROL for ch in url):
        raise _refused(field, "the URL contains whitespace or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise _refused(field, f"the URL is malformed ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise _refused(field, "only http and https URLs are allowed")
    if "@" in parts.netloc:
        raise _refused(
            field, "credentials in the URL are not allowed; use a credential variable instead"
        )
    host = parts.hostname
    if not host:
        raise _refused(field, "the URL has no host")
    if port == 0:
        raise _refused(field, "the URL's port is 0")
    return host


def check_destination(url: str, field: str, policy: OutboundPolicy) -> None:
    """Static checks, then every address the host resolves to now (apply-time check).

    A host that does not resolve yet passes: it is checked again on every connection.
    """
    host = check_url(url, field)
    if policy.host_allowed(host):
        return
    try:
        addresses = resolve(host, 443)
    except OSError:
        return
    for address in addresses:
        if not policy.address_allowed(address):
            raise _refused(field, refusal_reason(host, address))


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address `host` resolves to (an IP literal resolves to itself)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    found: list[IPAddress] = []
    for info in infos:
        # Drop an IPv6 zone ("fe80::1%eth0"): the address decides, not the interface.
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    return found


def refusal_reason(host: str, address: IPAddress) -> str:
    if address in METADATA_ADDRESSES:
        kind = "a cloud metadata address"
    elif address.is_loopback:
        kind = "a loopback address"
    elif address.is_link_local:
        kind = "a link-local address"
    elif address.is_multicast:
        kind = "a multicast address"
    elif address.is_unspecified:
        kind = "the unspecified address"
    elif address.is_private:
        kind = "a private address"
    else:
        kind = "not a public address"
    return (
        f"{host} resolves to {address}, {kind}; allow it with SIGNOFF_OUTBOUND__ALLOW "
        "if signoff should call it"
    )


def _refused(field: str, message: str) -> OutboundRefused:
    return OutboundRefused(
        f"{field}: {message}", field=field, problems=[{"field": field, "message": message}]
    )


def _looks_like_host(entry: str) -> bool:
    labels = entry.rstrip(".").split(".")
    return all(
        label and len(label) <= 63 and all(c.isalnum() or c == "-" for c in label)
        for label in labels
    )
