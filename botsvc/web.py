"""The bot's one HTTP port (``BOTSVC_HTTP_PORT``, default 3000).

Chat platforms that push requests to the bot (Slack's slash commands at
``/slack/events``) register their routes here; everything shares one aiohttp server
in the same event loop as the scheduler.
"""

from __future__ import annotations

import logging
import os

from aiohttp import web

from adapters.base import Route

log = logging.getLogger(__name__)

DEFAULT_PORT = 3000
PORT_ENV = "BOTSVC_HTTP_PORT"
HOST_ENV = "BOTSVC_HTTP_HOST"


class WebSettingsError(ValueError):
    pass


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
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    host = host or os.environ.get(HOST_ENV, "0.0.0.0")
    port = http_port() if port is None else port
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise WebSettingsError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    log.info("HTTP on %s:%d (%s)", host, port, ", ".join(path for _, path, _ in routes) or "no routes")
    return runner
