"""The shared HTTP port: routes are served; a bad or busy port is a clear error."""

import asyncio
import socket

import httpx
import pytest
from aiohttp import web

from botsvc.web import WebSettingsError, http_port, start_web


def test_routes_are_served_on_loopback():
    async def hello(request):
        return web.Response(text="hi")

    async def scenario():
        runner = await start_web([("GET", "/hello", hello)], host="127.0.0.1", port=0)
        try:
            port = runner.addresses[0][1]
            async with httpx.AsyncClient() as client:
                response = await client.get(f"http://127.0.0.1:{port}/hello")
            return response.status_code, response.text
        finally:
            await runner.cleanup()

    assert asyncio.run(scenario()) == (200, "hi")


def test_port_setting_is_validated():
    assert http_port({}) == 3000 and http_port({"BOTSVC_HTTP_PORT": "8080"}) == 8080
    with pytest.raises(WebSettingsError, match="BOTSVC_HTTP_PORT"):
        http_port({"BOTSVC_HTTP_PORT": "http"})


def test_a_busy_port_is_a_clear_error():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(WebSettingsError, match="cannot listen"):
            asyncio.run(start_web([], host="127.0.0.1", port=port))


def test_a_port_of_non_ascii_digits_is_a_settings_error_not_a_crash():
    import pytest

    from botsvc.web import WebSettingsError, http_port

    for value in ("²", "３０００"):
        with pytest.raises(WebSettingsError):
            http_port({"BOTSVC_HTTP_PORT": value})
