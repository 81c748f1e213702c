"""Fenced network and file access for the monitor: feeds read in, webhooks posted out.

- Only http and https; every address a host resolves to must be public (loopback, private,
  link-local and reserved ranges are refused) unless the config allows that host by name
  (``allow_hosts``). Each redirect is checked by the same rules before it is followed.
- A total deadline for the whole read, headers included (a server that drips a byte or a header
  line at a time is cut off: at the deadline the fetch's sockets are shut), and a hard size limit
  that refuses a larger answer rather than keep its first part.
- Local sources must be regular files (a FIFO or a device would block or never end).
- Webhooks never follow a redirect (urllib would turn the POST into a GET elsewhere).
- Secrets in URLs (passwords, query values such as ``?token=...``) are redacted wherever a URL is
  printed or stored: :func:`redact`.

The check resolves the host before connecting; a DNS answer that changes between the check and
the connection (rebinding) is not covered.
"""

from __future__ import annotations

import http.client
import ipaddress
import os
import socket
import stat
import threading
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from core.errors import DataError

__all__ = ["FetchPolicy", "FetchRefused", "check_url", "fetch_url", "read_local", "post_json", "redact",
           "failure_reason"]


class FetchRefused(DataError):
    """A source or webhook that the fence refuses (address, size, time, kind of file)."""


@dataclass(frozen=True)
class FetchPolicy:
    allow_hosts: tuple[str, ...] = ()  # host names or addresses allowed although not public
    max_bytes: int = 20_000_000
    deadline: float = 60.0  # seconds for the whole read, headers included
    timeout: float = 20.0  # seconds per network wait

    def allows(self, host: str) -> bool:
        return host.lower().strip("[]") in {h.lower().strip("[]") for h in self.allow_hosts}


def redact(text: str) -> str:
    """``text`` with the password and every query value of each URL in it replaced by ``***``."""
    out = []
    for word in str(text).split(" "):
        parsed = urllib.parse.urlsplit(word) if "://" in word else None
        if parsed and parsed.scheme and parsed.netloc:
            netloc = parsed.netloc
            if parsed.password is not None:
                netloc = netloc.replace(f":{parsed.password}@", ":***@")
            query = "&".join(f"{k}=***" for k, _ in urllib.parse.parse_qsl(parsed.query, keep_blank_values=True))
            word = urllib.parse.urlunsplit((parsed.scheme, netloc, parsed.path, query, ""))
        out.append(word)
    return " ".join(out)


def failure_reason(exc: BaseException) -> str:
    """One line for a failed source or record, secrets in URLs redacted."""
    text = str(getattr(exc, "reason", "") or exc).strip().splitlines()
    return redact(f"{type(exc).__name__}: {text[0] if text else ''}"[:300])


def check_url(url: str, policy: FetchPolicy) -> None:
    """Raise :class:`FetchRefused` unless ``url`` is http(s) to a public address (or an allowed host)."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https"):
        raise FetchRefused(f"{redact(url)}: only http and https are fetched", fix="give an http(s) URL")
    host = parsed.hostname or ""
    if not host:
        raise FetchRefused(f"{redact(url)}: no host in the URL", fix="give a full URL")
    if policy.allows(host):
        return
    try:
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError, ValueError) as exc:
        raise FetchRefused(f"{redact(url)}: host {host!r} does not resolve ({exc})", fix="check the URL") from exc
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if getattr(address, "ipv4_mapped", None):
            address = address.ipv4_mapped
        if not address.is_global:
            kind = ("loopback" if address.is_loopback else "link-local" if address.is_link_local
                    else "private" if address.is_private else "non-public")
            raise FetchRefused(f"{redact(url)}: {host} resolves to {address}, a {kind} address",
                               fix=f"if this host is yours, allow it by name: allow_hosts = [\"{host}\"] in the "
                                   "monitor config")


class _CheckedRedirects(urllib.request.HTTPRedirectHandler):
    def __init__(self, policy: FetchPolicy):
        self.policy = policy

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        check_url(newurl, self.policy)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        raise urllib.error.HTTPError(req.full_url, code, f"redirect to {redact(newurl)} refused", headers, fp)


class _Deadline:
    """Shuts the sockets of one fetch when its deadline passes. A socket timeout bounds each wait
    only: a server that sends a header line every few seconds would hold ``urlopen`` for as long as
    it likes (the read loop's own check comes after the headers)."""

    def __init__(self, seconds: float):
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                _shut(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shut(sock)

    def cancel(self) -> None:
        self._timer.cancel()


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)  # wakes a read blocked in another thread
    except OSError:
        pass  # already closed


def _watched(connection: type, deadline: _Deadline) -> type:
    class Watched(connection):
        def connect(self):
            super().connect()
            deadline.watch(self.sock)

    return Watched


class _WatchedHTTP(urllib.request.HTTPHandler):
    def __init__(self, deadline: _Deadline):
        super().__init__()
        self.deadline = deadline

    def http_open(self, req):
        return self.do_open(_watched(http.client.HTTPConnection, self.deadline), req)


class _WatchedHTTPS(urllib.request.HTTPSHandler):
    def __init__(self, deadline: _Deadline):
        super().__init__()
        self.deadline = deadline

    def https_open(self, req):
        return self.do_open(_watched(http.client.HTTPSConnection, self.deadline), req, context=self._context)


def fetch_url(url: str, policy: FetchPolicy) -> bytes:
    """The body of ``url`` within the policy's address rules, deadline and size limit."""
    check_url(url, policy)
    deadline = _Deadline(policy.deadline)
    late = FetchRefused(f"{redact(url)}: not read within {policy.deadline:g} s",
                        fix="check the server; a slow source is retried later")
    opener = urllib.request.build_opener(_CheckedRedirects(policy), _WatchedHTTP(deadline), _WatchedHTTPS(deadline))
    request = urllib.request.Request(url, headers={"User-Agent": "ftsuite-monitor/0.1"})
    try:
        with opener.open(request, timeout=min(policy.timeout, policy.deadline)) as response:
            length = response.headers.get("Content-Length")
            if length and length.isdigit() and int(length) > policy.max_bytes:
                raise FetchRefused(f"{redact(url)}: {int(length)} bytes announced, more than the limit of "
                                   f"{policy.max_bytes}", fix="split the feed, or raise max_bytes")
            chunks, size = [], 0
            while not deadline.expired:
                chunk = response.read1(65536)  # what has arrived: a drip cannot hold one call open
                if not chunk:
                    break
                size += len(chunk)
                if size > policy.max_bytes:
                    raise FetchRefused(f"{redact(url)}: more than the limit of {policy.max_bytes} bytes",
                                       fix="split the feed, or raise max_bytes")
                chunks.append(chunk)
    except (OSError, http.client.HTTPException) as exc:
        if deadline.expired:  # a shut socket reads as a reset or an early end
            raise late from exc
        raise
    finally:
        deadline.cancel()
    if deadline.expired:  # cut off between reads: what came is not the whole answer
        raise late
    return b"".join(chunks)


def read_local(path: str, policy: FetchPolicy) -> bytes:
    """A local file's bytes: regular files only, within the size limit."""
    try:
        info = os.stat(path)
    except OSError as exc:
        raise DataError([(str(path), None, None, "source not found")], fix="check the path or URL") from exc
    if not stat.S_ISREG(info.st_mode):
        raise FetchRefused([(str(path), None, None, "not a regular file")], fix="give a file or a folder of files")
    if info.st_size > policy.max_bytes:
        raise FetchRefused([(str(path), None, None, f"larger than {policy.max_bytes} bytes")], fix="split the file")
    with open(path, "rb") as handle:
        data = handle.read(policy.max_bytes + 1)
    if len(data) > policy.max_bytes:  # it grew while being read
        raise FetchRefused([(str(path), None, None, f"larger than {policy.max_bytes} bytes")], fix="split the file")
    return data


def post_json(url: str, body: bytes, timeout: float, policy: FetchPolicy) -> int:
    """POST ``body`` to ``url`` without following redirects; returns the HTTP status (2xx) or raises."""
    check_url(url, policy)
    opener = urllib.request.build_opener(_NoRedirects())
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
    with opener.open(request, timeout=timeout) as response:
        return response.status
