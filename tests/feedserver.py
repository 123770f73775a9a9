"""A loopback HTTP server that misbehaves on request, for fetch tests and benchmarks.

Tests register behaviour per path (static feeds with validators, status codes, gzip,
slow or trickling responses, redirects, oversized and endless bodies) and then point
real HTTP clients at ``server.url(path)``. Every request is logged with its headers so
tests can check what the client sent. Only 127.0.0.1 is ever bound.

    with FeedServer() as server:
        url = server.static("/feed.xml", b"<rss/>")
        ...
        assert server.requests_to("/feed.xml")[0].header("user-agent")

Static routes never sleep and the listen backlog is large, so the same server can
stand in for a thousand feeds in a benchmark.
"""

from __future__ import annotations

import gzip as gzip_module
import hashlib
import mimetypes
import struct
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

RSS = "application/rss+xml; charset=utf-8"
MiB = 1024 * 1024


@dataclass(frozen=True)
class LoggedRequest:
    """What the server saw: method, path (with query) and headers (names lower-cased)."""

    method: str
    path: str
    headers: dict[str, str]
    time: float

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


class FeedRequestHandler(BaseHTTPRequestHandler):
    """Dispatches to the registered route; helpers below are for route functions."""

    protocol_version = "HTTP/1.1"  # keep-alive, so benchmarks measure the client, not TCP setup
    disable_nagle_algorithm = True  # header and body are separate writes; avoid 40 ms stalls
    server: _Server

    def do_GET(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _dispatch(self) -> None:
        feed = self.server.feed
        headers = {name.lower(): value for name, value in self.headers.items()}
        feed._log(LoggedRequest(self.command, self.path, headers, time.time()))
        route = feed._routes.get(self.path) or feed._routes.get(urlsplit(self.path).path)
        try:
            if route is None:
                self.send(404, b"not found", content_type="text/plain")
            else:
                route(self)
        except (ConnectionError, TimeoutError):
            self.close_connection = True  # the client gave up; that is often the point

    @property
    def stopping(self) -> threading.Event:
        """Set when the server stops; wait on it instead of sleeping so shutdown is quick."""
        return self.server.feed._stopping

    def send(
        self,
        status: int,
        body: bytes = b"",
        *,
        content_type: str | None = None,
        headers: dict[str, str] | None = None,
        reason: str | None = None,
    ) -> None:
        """A complete response with Content-Length (no body for HEAD, 204 and 304)."""
        self.send_response(status, reason)
        if content_type:
            self.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        bodyless = self.command == "HEAD" or status in (204, 304)
        if status not in (204, 304):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and not bodyless:
            self.wfile.write(body)

    def send_stream(
        self,
        status: int,
        chunks: Iterable[bytes],
        *,
        content_type: str | None = None,
        headers: dict[str, str] | None = None,
        length: int | None = None,
    ) -> None:
        """A streamed body: with Content-Length if ``length`` is given, else chunked."""
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if length is None:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(length))
        self.end_headers()
        if self.command == "HEAD":
            return
        for chunk in chunks:
            if self.stopping.is_set():
                self.close_connection = True
                return
            if not chunk:
                continue
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk) if length is None else chunk)
        if length is None:
            self.wfile.write(b"0\r\n\r\n")


Route = Callable[[FeedRequestHandler], None]


class _Server(ThreadingHTTPServer):
    request_queue_size = 1024
    daemon_threads = True
    block_on_close = False  # don't wait for slow handlers on stop; they are daemons
    allow_reuse_address = True
    feed: FeedServer

    def handle_error(self, request: object, client_address: object) -> None:
        # A client hanging up mid-response is expected here; anything else is a bug in a route.
        if not isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            super().handle_error(request, client_address)


class FeedServer:
    """Threaded HTTP server on 127.0.0.1 with a per-path route registry and a request log.

    Registration methods return the absolute URL of the path they set up.
    """

    def __init__(self, port: int = 0) -> None:
        self._port = port
        self._routes: dict[str, Route] = {}
        self._requests: list[LoggedRequest] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self.started_at = formatdate(time.time() - 60, usegmt=True)

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> FeedServer:
        self._stopping.clear()
        self._httpd = _Server(("127.0.0.1", self._port), FeedRequestHandler)
        self._httpd.feed = self
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01}, name="feedserver", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = self._thread = None

    def __enter__(self) -> FeedServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    # -- request log ---------------------------------------------------------------

    def _log(self, request: LoggedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    @property
    def requests(self) -> list[LoggedRequest]:
        with self._lock:
            return list(self._requests)

    def requests_to(self, path: str) -> list[LoggedRequest]:
        return [r for r in self.requests if r.path == path or urlsplit(r.path).path == path]

    def clear_log(self) -> None:
        with self._lock:
            self._requests.clear()

    # -- routes --------------------------------------------------------------------

    def route(self, path: str, handler: Route) -> str:
        """Register any behaviour: ``handler`` gets the request handler and must respond."""
        self._routes[path] = handler
        return self.url(path)

    def static(
        self,
        path: str,
        body: bytes,
        *,
        content_type: str = RSS,
        etag: str | bool = True,
        last_modified: str | bool = True,
        gzip: bool = False,
        validators_on_304: bool = True,
        headers: dict[str, str] | None = None,
    ) -> str:
        """Fixed bytes that honour If-None-Match / If-Modified-Since with 304.

        ``etag``/``last_modified``: True derives one (content hash, server start time),
        a string is used as given, False sends none. ``gzip`` always gzips the body
        (as some servers do whatever Accept-Encoding says). ``validators_on_304=False``
        answers 304 without ETag/Last-Modified, as some servers do.
        """
        tag = f'"{hashlib.sha1(body).hexdigest()[:16]}"' if etag is True else (etag or None)
        modified = self.started_at if last_modified is True else (last_modified or None)
        payload = gzip_module.compress(body, mtime=0) if gzip else body
        fixed = dict(headers or {})
        if gzip:
            fixed["Content-Encoding"] = "gzip"
            fixed["Vary"] = "Accept-Encoding"

        def handle(h: FeedRequestHandler) -> None:
            validators = {}
            if tag:
                validators["ETag"] = tag
            if modified:
                validators["Last-Modified"] = modified
            if _not_modified(h, tag, modified):
                h.send(304, headers={**fixed, **validators} if validators_on_304 else fixed)
            else:
                h.send(200, payload, content_type=content_type, headers={**fixed, **validators})

        return self.route(path, handle)

    def status(self, path: str, code: int, body: bytes = b"", *, reason: str | None = None) -> str:
        """Any status code, e.g. 404, 500, 429, with an optional body."""
        return self.route(path, lambda h: h.send(code, body, content_type="text/plain", reason=reason))

    def redirect(self, path: str, location: str, code: int = 302) -> str:
        """Redirect to ``location`` (absolute, or a path on this server)."""
        return self.route(path, lambda h: h.send(code, headers={"Location": location}))

    def redirect_loop(self, path: str) -> str:
        """``path`` and ``path + "-loop"`` redirect to each other forever."""
        self.redirect(path + "-loop", path)
        return self.redirect(path, path + "-loop")

    def slow(self, path: str, delay: float, body: bytes = b"<rss/>") -> str:
        """Wait ``delay`` seconds before sending anything, then a normal response."""

        def handle(h: FeedRequestHandler) -> None:
            if not h.stopping.wait(delay):
                h.send(200, body, content_type=RSS)

        return self.route(path, handle)

    def trickle(self, path: str, body: bytes, interval: float) -> str:
        """Headers at once, then one byte every ``interval`` seconds (Content-Length set)."""

        def drip(h: FeedRequestHandler) -> Iterator[bytes]:
            for i in range(len(body)):
                if i and h.stopping.wait(interval):
                    return
                yield body[i : i + 1]

        return self.route(path, lambda h: h.send_stream(200, drip(h), content_type=RSS, length=len(body)))

    def oversized(self, path: str, size: int, *, declare_length: bool = True) -> str:
        """``size`` bytes of filler, generated while sending (never held in memory).

        With ``declare_length`` the size is announced in Content-Length; otherwise the
        body is chunked so the client only finds out by counting.
        """
        piece = b"<!-- filler -->\n" * 4096  # 64 KiB

        def body() -> Iterator[bytes]:
            left = size
            while left > 0:
                yield piece[:left]
                left -= len(piece)

        length = size if declare_length else None
        return self.route(path, lambda h: h.send_stream(200, body(), content_type=RSS, length=length))

    def endless(self, path: str, limit: int = 256 * MiB, chunk: bytes = b"<item/>" * 1024) -> str:
        """A chunked body that goes on until ``limit`` bytes (or the client hangs up)."""

        def body() -> Iterator[bytes]:
            sent = 0
            while sent < limit:
                yield chunk
                sent += len(chunk)

        return self.route(path, lambda h: h.send_stream(200, body(), content_type=RSS))

    def gzip_bomb(self, path: str, decoded_size: int = 1024 * MiB) -> str:
        """A valid gzip stream of ``decoded_size`` zero bytes, ~1000x smaller on the wire."""
        wire = list(_gzip_zeros(decoded_size))
        return self.route(
            path,
            lambda h: h.send_stream(
                200, iter(wire), content_type=RSS, headers={"Content-Encoding": "gzip"}, length=sum(map(len, wire))
            ),
        )

    def serve_directory(self, directory: str | Path, prefix: str = "/", pattern: str = "*") -> dict[str, str]:
        """Serve each file of ``directory`` as a static route; returns {file name: URL}.

        ETags come from the content, Last-Modified from the file's mtime.
        """
        urls = {}
        for file in sorted(Path(directory).glob(pattern)):
            if file.is_file():
                urls[file.name] = self.static(
                    prefix + file.name,
                    file.read_bytes(),
                    content_type=mimetypes.guess_type(file.name)[0] or "application/octet-stream",
                    last_modified=formatdate(file.stat().st_mtime, usegmt=True),
                )
        return urls


def _not_modified(h: FeedRequestHandler, etag: str | None, last_modified: str | None) -> bool:
    """RFC 9110 section 13.2.2: If-None-Match wins; If-Modified-Since only without it."""
    if_none_match = h.headers.get("If-None-Match")
    if if_none_match is not None:
        if etag is None:
            return False
        wanted = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
        return "*" in wanted or etag.removeprefix("W/") in wanted
    if_modified_since = h.headers.get("If-Modified-Since")
    if if_modified_since and last_modified:
        try:
            return parsedate_to_datetime(last_modified) <= parsedate_to_datetime(if_modified_since)
        except (TypeError, ValueError):
            return False
    return False


def _gzip_zeros(decoded_size: int) -> Iterator[bytes]:
    """gzip of zeros without compressing them all: after a full flush, every further MiB
    of zeros compresses to the same bytes, so one segment is repeated."""
    block = bytes(MiB)
    blocks = max(1, -(-decoded_size // MiB))
    compressor = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    first = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    repeat = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(blocks):
        crc = zlib.crc32(block, crc)
    yield first
    for _ in range(blocks - 1):
        yield repeat
    # Empty final block with fixed Huffman codes, then the gzip trailer.
    yield b"\x03\x00" + struct.pack("<II", crc, (blocks * MiB) & 0xFFFFFFFF)
