"""Polite HTTP fetching of feeds: conditional GET, hard limits, failures as values.

Feeds come from many third-party servers and any of them can be slow, huge, broken
or hostile. Every limit is enforced here, and every failure comes back as a
``FetchResult`` with a one-line reason instead of an exception, so one bad feed
never stops a poll cycle. This module only returns bytes; parsing happens elsewhere.

Feeds added from chat are fetched with ``public_only``: every connection, on every poll
and every redirect hop, goes only to addresses checked at connect time (see
:mod:`botsvc.ingest.connect`), and every failure reads the same (:data:`UNREACHABLE`), so the
bot cannot be used to probe what answers inside its network. Operator-configured feeds
may be internal, but a redirect from one to a different host is checked the same way.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import logging
import mimetypes
import os
import re
import socket
import ssl
import time
import zlib
from collections.abc import AsyncIterator, Collection, Iterable, Iterator
from dataclasses import dataclass, replace
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

from botsvc import __version__
from botsvc.ingest.addresses import AddressGuard

if TYPE_CHECKING:
    # The HTTP client is imported when a client is made: FetchPolicy and read_local are
    # used by every command, and importing aiohttp (which builds TLS contexts as it loads)
    # costs more than most of them take.
    import aiohttp
    from yarl import URL

    from botsvc.ingest.connect import FetchClient, SocketFactory

log = logging.getLogger(__name__)

ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, "
    "application/xml;q=0.8, text/xml;q=0.8, */*;q=0.5"
)
# Only what _Inflater can decode within the size cap.
ACCEPT_ENCODING = "gzip, deflate"
_WEB_SCHEMES = ("http", "https")
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_URL_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_MAX_HEADER_LINE = 64 * 1024
"""Longest response header line accepted (aiohttp's default, 8 KiB, refuses some real sites)."""
UNREACHABLE = "no feed could be fetched from that address"
"""The one error line of a ``public_only`` fetch, whatever went wrong (the log has the detail)."""


@dataclass(frozen=True)
class FetchPolicy:
    """Limits and identity for fetching; defaults suit a poll of a few hundred feeds."""

    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    total_deadline: float = 30.0
    """Whole fetch, including a body that trickles in a byte at a time."""
    max_bytes: int = 10 * 1024 * 1024
    """Cap on the decoded body; reading stops as soon as it is passed."""
    max_redirects: int = 5
    user_agent: str = f"botsvc/{__version__} (+https://github.com/botsvc/botsvc; self-hosted news monitor)"
    concurrency: int = 50
    """Most fetches in flight at once in ``fetch_many``; also the most connections per host."""


@dataclass(frozen=True)
class Validators:
    """Cache validators from the previous fetch, sent back for a conditional GET."""

    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True)
class FetchResult:
    """Outcome of one fetch; ``error`` is one human-readable line when status is "error"."""

    url: str
    status: Literal["ok", "not_modified", "error"]
    body: bytes | None = None
    etag: str | None = None
    last_modified: str | None = None
    http_status: int | None = None
    final_url: str | None = None
    content_type: str | None = None
    error: str | None = None
    elapsed: float = 0.0


class _Abort(Exception):
    """A response we refuse to accept (too large, undecodable); the message is user-facing."""


def make_client(policy: FetchPolicy, *, socket_factory: SocketFactory | None = None) -> FetchClient:
    """One shared client per poll cycle, so connections to the same host are reused.

    Its checked session connects only to addresses the guard accepts (the guard's test
    settings are read from the environment now). Proxy variables are not used: the
    address checked must be the address connected to. ``socket_factory`` makes the
    sockets underneath (tests use one that can only reach loopback). Must be called
    with an event loop running.
    """
    from botsvc.ingest.connect import CheckedConnector, FetchClient, PoolConnector, TimedResolver

    tls, most = _ssl_context(), policy.concurrency
    direct = PoolConnector(
        resolver=TimedResolver(policy.connect_timeout),
        idle_hosts=most,
        limit=most,
        limit_per_host=most,
        ssl=tls,
        socket_factory=socket_factory,
    )
    checked = CheckedConnector(
        AddressGuard.from_env(),
        resolve_timeout=policy.connect_timeout,
        socket_factory=socket_factory,
        idle_hosts=most,
        limit=most,
        limit_per_host=most,
        ssl=tls,
    )
    return FetchClient(_session(direct, policy), _session(checked, policy), max_redirects=policy.max_redirects)


def _session(connector: aiohttp.BaseConnector, policy: FetchPolicy) -> aiohttp.ClientSession:
    import aiohttp

    return aiohttp.ClientSession(
        connector=connector,
        timeout=_timeout(policy),
        headers={"User-Agent": policy.user_agent, "Accept": ACCEPT, "Accept-Encoding": ACCEPT_ENCODING},
        auto_decompress=False,  # _Inflater decodes, in bounded steps
        trust_env=False,
        cookie_jar=aiohttp.CookieJar(unsafe=True),  # kept across redirect hops, as browsers do
        max_line_size=_MAX_HEADER_LINE,
        max_field_size=_MAX_HEADER_LINE,
    )


def _ssl_context() -> ssl.SSLContext:
    """Certificates from SSL_CERT_FILE / SSL_CERT_DIR when set, else the certifi bundle."""
    return _ssl_context_for(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))


@functools.lru_cache(maxsize=4)
def _ssl_context_for(cafile: str | None, capath: str | None) -> ssl.SSLContext:
    """Built once per setting: loading the CA bundle costs more than a fetch."""
    import certifi

    if cafile or capath:
        return ssl.create_default_context(cafile=cafile or None, capath=capath or None)
    return ssl.create_default_context(cafile=certifi.where())


def _timeout(policy: FetchPolicy) -> aiohttp.ClientTimeout:
    import aiohttp

    # No aiohttp total: fetch_feed's own deadline covers the whole fetch, every hop included.
    return aiohttp.ClientTimeout(
        total=None, connect=None, sock_connect=policy.connect_timeout, sock_read=policy.read_timeout
    )


async def fetch_feed(
    client: FetchClient,
    url: str,
    validators: Validators = Validators(),
    policy: FetchPolicy = FetchPolicy(),
    *,
    public_only: bool = False,
) -> FetchResult:
    """GET one feed, conditionally; never raises for network, HTTP, size or timeout problems.

    ``public_only`` (feeds added from chat): connect only to checked public addresses, and
    report any failure as :data:`UNREACHABLE`.
    """
    result = await _fetch_detailed(client, url, validators, policy, public_only)
    if public_only and result.status == "error":
        log.info("feed %s (added from chat): %s", url, result.error)
        return replace(result, error=UNREACHABLE, http_status=None, final_url=None, content_type=None)
    return result


def _parse_url(url: str) -> URL | str:
    """The URL, or why it cannot be fetched."""
    from yarl import URL

    try:
        parsed = URL(url)
    except (ValueError, TypeError) as exc:
        return f"invalid URL: {_plain(exc)}"
    if parsed.scheme not in _WEB_SCHEMES:
        shown = f"{parsed.scheme}:" if parsed.scheme else "(none)"
        return f"unsupported URL scheme {shown} (only http and https)"
    if not parsed.host:
        return "invalid URL: no host"
    return parsed


def _plain(exc: BaseException) -> str:
    return str(exc).removeprefix("Invalid URL: ") or type(exc).__name__


async def _fetch_detailed(
    client: FetchClient, url: str, validators: Validators, policy: FetchPolicy, public_only: bool
) -> FetchResult:
    import aiohttp  # loaded already: the client is one

    started = time.monotonic()
    parsed = _parse_url(url)
    if isinstance(parsed, str):
        return _failed(url, started, parsed)

    headers = {"User-Agent": policy.user_agent, "Accept": ACCEPT, "Accept-Encoding": ACCEPT_ENCODING}
    if validators.etag:
        headers["If-None-Match"] = validators.etag
    if validators.last_modified:
        headers["If-Modified-Since"] = validators.last_modified
    try:
        # Per-read timeouts alone let a server trickle a byte every few seconds forever.
        async with asyncio.timeout(policy.total_deadline):
            return await _fetch(client, url, parsed, headers, validators, policy, started, public_only)
    except aiohttp.ServerTimeoutError as exc:  # a TimeoutError too: the connect and read limits
        return _failed(url, started, _describe(exc, policy))
    except TimeoutError:
        return _failed(url, started, f"timed out after {policy.total_deadline:g}s")
    except (aiohttp.ClientError, OSError) as exc:
        return _failed(url, started, _describe(exc, policy))
    except Exception as exc:  # a bug or an exotic failure in one feed must not end the poll
        log.exception("unexpected error fetching %s", url)
        return _failed(url, started, f"unexpected {type(exc).__name__}: {exc}")


async def _fetch(
    client: FetchClient,
    url: str,
    target: URL,
    headers: dict[str, str],
    validators: Validators,
    policy: FetchPolicy,
    started: float,
    public_only: bool,
) -> FetchResult:
    import aiohttp
    from yarl import URL

    from botsvc.ingest.connect import AddressRefused

    home = target.host
    guard: AddressGuard | None = None
    # Redirects are followed by hand: each hop must be checked before it is requested,
    # and its body is never read.
    for hop in range(policy.max_redirects + 1):
        host = target.host or ""
        shown = f"redirect to {host}" if hop else host
        # A configured feed may be internal; leaving its host, or any hop of a feed added
        # from chat, must not send the bot into its own network (e.g. a cloud metadata address).
        checked = public_only or host != home
        if checked:
            guard = guard or AddressGuard.from_env()
            port = target.port or (443 if target.scheme == "https" else 80)
            reason = guard.host_refusal(host, port)
            if reason:
                return _failed(url, started, f"{shown} refused: {reason}")
            if not client.checks_addresses:  # a client put together elsewhere
                return _failed(url, started, f"{shown} refused: this HTTP client cannot check addresses")
        for hook in client.request_hooks:
            await hook(str(target))
        try:
            response = await client.session(checked).get(target, headers=headers, allow_redirects=False)
        except aiohttp.ClientConnectorError as exc:
            refused = next((c for c in _causes(exc) if isinstance(c, AddressRefused)), None)
            if refused is None:
                raise
            return _failed(url, started, f"{shown} refused: {refused.reason}")
        location = response.headers.get("Location")
        if response.status not in _REDIRECTS or location is None:
            break
        response.release()  # unread: the connection is closed, not reused
        try:
            target = response.url.join(URL(location))
        except (ValueError, TypeError) as exc:
            return _failed(url, started, f"protocol error: invalid redirect location: {_plain(exc)}")
        if target.scheme not in _WEB_SCHEMES:
            return _failed(url, started, f"redirect to unsupported URL scheme {target.scheme}:")
        if not target.host:
            return _failed(url, started, "protocol error: redirect to a URL without a host")
    else:
        return _failed(url, started, f"too many redirects (>{policy.max_redirects})")

    try:
        code = response.status
        meta: dict[str, Any] = {
            "http_status": code,
            "final_url": str(response.url),
            "content_type": response.headers.get("Content-Type"),
        }
        if code == 304:
            return FetchResult(
                url=url,
                status="not_modified",
                etag=response.headers.get("ETag") or validators.etag,
                last_modified=response.headers.get("Last-Modified") or validators.last_modified,
                elapsed=time.monotonic() - started,
                **meta,
            )
        if not 200 <= code < 300:
            return _failed(url, started, f"HTTP {code} {_reason(response)}".rstrip(), **meta)
        try:
            body = await _read_body(response, policy.max_bytes)
        except _Abort as exc:
            return _failed(url, started, str(exc), **meta)
        return FetchResult(
            url=url,
            status="ok",
            body=body,
            etag=response.headers.get("ETag"),
            last_modified=response.headers.get("Last-Modified"),
            elapsed=time.monotonic() - started,
            **meta,
        )
    finally:
        response.release()


def _reason(response: aiohttp.ClientResponse) -> str:
    if response.reason:
        return response.reason
    try:
        return HTTPStatus(response.status).phrase
    except ValueError:
        return ""


async def _read_body(response: aiohttp.ClientResponse, max_bytes: int) -> bytes:
    """Stream the body, decoding it ourselves so the cap holds for compressed bodies too."""
    too_large = _Abort(f"response larger than {max_bytes} bytes")
    encoding = response.headers.get("Content-Encoding", "")
    inflater = _Inflater.for_encoding(encoding)
    if inflater is None:
        declared = response.headers.get("Content-Length", "")
        if declared.isascii() and declared.isdigit() and int(declared) > max_bytes:
            raise too_large
    parts: list[bytes] = []
    size = 0
    async for raw in response.content.iter_chunked(_Inflater.STEP):
        for piece in inflater.feed(raw) if inflater else (raw,):
            size += len(piece)
            if size > max_bytes:
                raise too_large
            parts.append(piece)
        if inflater and inflater.eof:
            break  # ignore trailing garbage rather than buffer it
    return b"".join(parts)


class _Inflater:
    """gzip/deflate decoding in bounded steps.

    A decoder that inflates each network chunk in one call (httpx's, aiohttp's) makes
    up to ~1000x its size, so a 64 KiB chunk of a gzip bomb becomes ~64 MiB in memory
    before any cap can look at it. Passing ``max_length`` to zlib keeps every step small.
    """

    STEP = 64 * 1024

    def __init__(self, wbits: int, raw_deflate_fallback: bool = False) -> None:
        self._zlib = zlib.decompressobj(wbits)
        self._fallback = raw_deflate_fallback
        self._started = False

    @classmethod
    def for_encoding(cls, header: str) -> _Inflater | None:
        codings = [c.strip().lower() for c in header.split(",")]
        codings = [c for c in codings if c and c != "identity"]
        if not codings:
            return None
        if codings in (["gzip"], ["x-gzip"]):
            return cls(zlib.MAX_WBITS | 16)
        if codings == ["deflate"]:
            # "deflate" should be zlib-wrapped, but some servers send raw deflate.
            return cls(zlib.MAX_WBITS, raw_deflate_fallback=True)
        raise _Abort(f"unsupported content encoding: {header}")

    @property
    def eof(self) -> bool:
        return self._zlib.eof

    def feed(self, data: bytes) -> Iterator[bytes]:
        while not self._zlib.eof:
            try:
                out = self._zlib.decompress(data, self.STEP)
            except zlib.error as exc:
                if self._fallback and not self._started:
                    self._fallback = False
                    self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
                    continue
                raise _Abort(f"could not decode compressed body: {exc}") from None
            self._started = self._started or bool(out)
            data = self._zlib.unconsumed_tail
            if out:
                yield out
            if not data and len(out) < self.STEP:
                return  # input used up and no output pending


def _failed(
    url: str,
    started: float,
    message: str,
    *,
    http_status: int | None = None,
    final_url: str | None = None,
    content_type: str | None = None,
) -> FetchResult:
    elapsed = time.monotonic() - started
    return FetchResult(
        url=url,
        status="error",
        error=message,
        elapsed=elapsed,
        http_status=http_status,
        final_url=final_url,
        content_type=content_type,
    )


def _describe(exc: BaseException, policy: FetchPolicy) -> str:
    """One line a user can act on, instead of a transport-layer exception name."""
    import aiohttp

    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return f"connect timed out after {policy.connect_timeout:g}s"
    if isinstance(exc, aiohttp.SocketTimeoutError):
        return f"read timed out after {policy.read_timeout:g}s"
    if isinstance(exc, aiohttp.ServerTimeoutError):
        return f"timed out ({type(exc).__name__})"
    if isinstance(exc, aiohttp.InvalidURL | aiohttp.NonHttpUrlClientError):
        return f"invalid URL: {exc}"
    for cause in _causes(exc):
        if isinstance(cause, ConnectionRefusedError) or getattr(cause, "errno", None) == errno.ECONNREFUSED:
            return "connection refused"
        if isinstance(cause, socket.gaierror):
            return f"could not resolve host ({cause.strerror or cause})"
        if isinstance(cause, aiohttp.ClientError):
            continue  # aiohttp's TLS errors subclass ssl's; the one they wrap carries the detail
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"TLS certificate not accepted: {cause.verify_message or cause}"
        if isinstance(cause, ssl.SSLError):
            return f"TLS error: {cause.reason or cause}"
    text = str(exc) or type(exc).__name__
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"connection failed: {text}"
    if isinstance(exc, aiohttp.ClientPayloadError | aiohttp.ClientResponseError):
        return f"protocol error: {_protocol_message(exc)}"
    if isinstance(exc, aiohttp.ClientConnectionError | OSError):
        return f"connection lost: {text}"
    return f"{type(exc).__name__}: {text}"


def _protocol_message(exc: BaseException) -> str:
    """aiohttp's parser errors carry a status and the request's URL; the message alone is the news."""
    message = getattr(exc, "message", None)
    return str(message or exc or type(exc).__name__)


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """The exception, what caused it, and members of exception groups (anyio's happy eyeballs)."""
    seen: set[int] = set()
    stack = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        if isinstance(current, BaseExceptionGroup):
            stack.extend(current.exceptions)
        for nxt in (current.__cause__, current.__context__):
            if nxt is not None:
                stack.append(nxt)


async def fetch_many(
    targets: Iterable[tuple[str, Validators]],
    policy: FetchPolicy = FetchPolicy(),
    client: FetchClient | None = None,
    *,
    public_only: Collection[str] = frozenset(),
    backlog: asyncio.Semaphore | None = None,
) -> AsyncIterator[FetchResult]:
    """Fetch all targets at most ``policy.concurrency`` at a time, yielding results as they finish.

    With ``backlog``, each fetch first takes one of its places, and the caller gives it
    back once it is done with the result (e.g. parsed it): fetched bodies waiting for a
    slower parse then stay few, instead of every feed's body piling up in memory.

    Local paths and file:// URLs go through ``read_local`` (in a thread, so disks don't
    stall the event loop). URLs in ``public_only`` (feeds added from chat) are fetched
    with ``fetch_feed(..., public_only=True)``. A client passed in is left open; one made
    here is closed.
    """
    own_client = client is None
    http = client if client is not None else make_client(policy)
    gate = asyncio.Semaphore(max(1, policy.concurrency))

    async def fetch(url: str, validators: Validators) -> FetchResult:
        started = time.monotonic()
        try:
            if backlog is not None:
                await backlog.acquire()
            async with gate:
                if url in public_only:
                    return await fetch_feed(http, url, validators, policy, public_only=True)
                if is_local(url):
                    return await asyncio.to_thread(read_local, url, policy)
                return await fetch_feed(http, url, validators, policy)
        except Exception as exc:  # keep the one-result-per-target promise
            log.exception("unexpected error fetching %s", url)
            return _failed(url, started, f"unexpected {type(exc).__name__}: {exc}")

    async def one(url: str, validators: Validators) -> list[FetchResult]:
        # A finished task keeps its result until the last task is done: handed over in a
        # box the caller empties, a fetched body is not held beyond its caller's use of it
        # (as a task's own result, every body of the cycle stayed in memory to the end).
        return [await fetch(url, validators)]

    tasks = [asyncio.create_task(one(url, validators)) for url, validators in targets]
    try:
        for next_done in asyncio.as_completed(tasks):
            yield (await next_done).pop()
    finally:
        for task in tasks:
            task.cancel()
        # Shielded: a caller that cancels the iteration once it has every result (a poll
        # cycle does) must not cut this short and leave the client's sessions open.
        await asyncio.shield(_finish(tasks, http if own_client else None))


async def _finish(tasks: list[asyncio.Task], client: FetchClient | None) -> None:
    await asyncio.gather(*tasks, return_exceptions=True)
    if client is not None:
        await client.aclose()


def is_local(target: str) -> bool:
    """True for file:// URLs and anything that is not an http(s) URL."""
    return not target.lower().startswith(("http://", "https://"))


def read_local(path_or_file_url: str, policy: FetchPolicy = FetchPolicy()) -> FetchResult:
    """Read a feed from disk (offline demo, tests), with the same size cap as HTTP."""
    started = time.monotonic()
    target = path_or_file_url
    match = _URL_SCHEME.match(target)
    if match and match.group(1).lower() != "file":
        scheme = match.group(1)
        return _failed(target, started, f"unsupported URL scheme {scheme}: (only http, https and file)")
    if match:
        parts = urlsplit(target)
        if parts.netloc not in ("", "localhost"):
            return _failed(target, started, f"file URL on another host not supported: {parts.netloc}")
        path = url2pathname(unquote(parts.path))
    else:
        path = target
    try:
        with open(path, "rb") as handle:
            body = handle.read(policy.max_bytes + 1)
    except FileNotFoundError:
        return _failed(target, started, f"no such file: {path}")
    except IsADirectoryError:
        return _failed(target, started, f"is a directory, not a file: {path}")
    except PermissionError:
        return _failed(target, started, f"permission denied: {path}")
    except OSError as exc:
        return _failed(target, started, f"cannot read {path}: {exc.strerror or exc}")
    if len(body) > policy.max_bytes:
        return _failed(target, started, f"file larger than {policy.max_bytes} bytes: {path}")
    return FetchResult(
        url=target,
        status="ok",
        body=body,
        final_url=target,
        content_type=mimetypes.guess_type(path)[0],
        elapsed=time.monotonic() - started,
    )
