"""Which Host and Origin headers the app answers: the guard against DNS rebinding and CSRF.

A page on another site can make the browser send requests to the app (a form, an image, a
WebSocket), and a domain of the attacker's can be made to resolve to 127.0.0.1 (DNS
rebinding). The app therefore only answers a Host header naming one of its allowed hosts,
and only takes a browser's WebSocket or state-changing request when its Origin is the
app's own (the same host and port as the Host header).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
ANY_ADDRESS = ("0.0.0.0", "::", "")


def is_loopback(host: str) -> bool:
    """True when listening on `host` lets only this machine connect."""
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def machine_names() -> set[str]:
    """This machine's own names and addresses: the hosts its users type when bound to all."""
    names = {socket.gethostname().lower(), socket.getfqdn().lower()}
    for name in list(names):
        try:
            for *_, address in socket.getaddrinfo(name, None):
                names.add(str(address[0]).lower())
        except OSError:
            continue  # a name that does not resolve is simply not added
    return names


def allowed_hosts(bound: str, extra: Iterable[str] = ()) -> frozenset[str]:
    """localhost, 127.0.0.1, ::1, the bound address (or this machine's names) and `extra`."""
    hosts = set(LOOPBACK_NAMES) | {h.strip("[]").lower() for h in extra if h.strip()}
    if bound in ANY_ADDRESS:
        hosts |= machine_names()
    else:
        hosts.add(bound.strip("[]").lower())
    return frozenset(hosts)


def host_name(host_header: str) -> str:
    """The host part of a Host header (`name:port`, `[v6]:port`), lower case."""
    value = host_header.strip().lower()
    if value.startswith("["):
        return value[1:].split("]", 1)[0]
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def same_origin(origin: str, host_header: str) -> bool:
    """True when `origin` (scheme://host[:port]) is the app itself as the Host header names it."""
    try:
        parts = urlsplit(origin.strip())
    except ValueError:  # malformed (bad brackets): not the app's origin
        return False
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False  # "null" (a sandboxed frame, a file), or not an origin at all
    default = ":443" if parts.scheme == "https" else ":80"
    netloc = parts.netloc.lower()
    host = host_header.strip().lower()
    return netloc == host or netloc == host + default or netloc + default == host
