"""The bot's one HTTP port (``BOTSVC_HTTP_PORT``, default 3000).

Chat platforms that push requests to the bot (Slack's slash commands at
``/slack/events``) register their routes here; everything shares one aiohttp server
in the same event loop as the scheduler.

The port may face the internet (Slack needs a public request URL), so what anyone can
send costs little: aiohttp logs each unparseable request (a bad request line, a header
over 8 KiB) at ERROR with a traceback; here that is one short WARNING line at most every
:data:`MALFORMED_LOG_INTERVAL` seconds. A handler's own failure keeps its traceback.
"""

from __future__ import annotations

import logging
import os

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from botsvc.deliver.adapter import Route
from botsvc.service.logs import Throttle

log = logging.getLogger(__name__)
server_log = logging.getLogger("botsvc.service.web.server")
"""aiohttp's server logs here (not ``aiohttp.server``), through :class:`MalformedRequests`."""

DEFAULT_PORT = 3000
PORT_ENV = "BOTSVC_HTTP_PORT"
HOST_ENV = "BOTSVC_HTTP_HOST"
MALFORMED_LOG_INTERVAL = 60.0


class WebSettingsError(ValueError):
    pass


class MalformedRequests(logging.Filter):
    """Turns aiohttp's traceback for an unparseable request into one short line, rate-limited."""

    def __init__(self, interval: float = MALFORMED_LOG_INTERVAL) -> None:
        super().__init__()
        self.throttle = Throttle(interval)

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if not isinstance(error, HttpProcessingError) or record.levelno < logging.ERROR:
            return True
        suppressed = self.throttle.admit()
        if suppressed is None:
            return False
        peer = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
        what = (error.message or type(error).__name__).split("\n", 1)[0].rstrip(":")[:80]
        record.msg = "malformed HTTP request from %s refused (HTTP %s: %s)"
        record.args = (peer, error.code, what)
        if suppressed:
            record.msg += " (%d more since the last line like this)"
            record.args += (suppressed,)
        record.exc_info = record.exc_text = None
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


server_log.addFilter(MalformedRequests())


def http_port(env: dict[str, str] | None = None) -> int:
    value = (env if env is not None else os.environ).get(PORT_ENV, str(DEFAULT_PORT)).strip()
    if not (value.isascii() and value.isdigit()) or not 0 <= int(value) <= 65535:
        raise WebSettingsError(f"{PORT_ENV}={value!r}: expected a port number (0-65535)")
    return int(value)


async def start_web(routes: list[Route], *, host: str | None = None, port: int | None = None) -> web.AppRunner:
    """Serve ``routes``; returns the runner (``await runner.cleanup()`` to stop)."""
    app = web.Application(client_max_size=1024 * 1024)
    for method, path, handler in routes:
        app.router.add_route(method, path, handler)
    runner = web.AppRunner(app, access_log=None, logger=server_log)
    await runner.setup()
    host = host or os.environ.get(HOST_ENV, "0.0.0.0")
    port = http_port() if port is None else port
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise WebSettingsError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    port = runner.addresses[0][1] if runner.addresses else port  # the one bound when asked for 0
    log.info("HTTP on %s:%d (%s)", host, port, ", ".join(path for _, path, _ in routes) or "no routes")
    return runner
