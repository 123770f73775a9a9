"""The shared HTTP port: routes are served; a bad or busy port is a clear error."""

import asyncio
import io
import logging
import socket

import httpx
import pytest
from aiohttp import web

from botsvc.service import logs
from botsvc.service.web import WebSettingsError, http_port, start_web


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


@pytest.fixture
def service_log():
    """The root logger set up as `botsvc run` does, writing text lines to a string."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    stream = io.StringIO()
    logs.setup(logging.INFO, "text", "%(asctime)s %(levelname)s %(name)s: %(message)s", stream)
    yield stream
    root.handlers[:], root.level = saved


async def raw_exchange(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    answer = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    writer.close()
    await writer.wait_closed()
    return answer


def test_malformed_requests_cost_one_short_line_a_minute_but_a_failing_handler_keeps_its_traceback(service_log):
    async def broken(request):
        raise RuntimeError("handler bug")

    malformed = [
        b"POST /x HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 20000 + b"\r\n\r\n",
        b"POST /x\n2026-01-01 00:00:00,000 INFO botsvc: forged HTTP/1.1\r\n\r\n",
        b"POST /x HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
    ] * 20

    async def scenario():
        runner = await start_web([("POST", "/x", broken)], host="127.0.0.1", port=0)
        try:
            port = runner.addresses[0][1]
            answers = [await raw_exchange(port, request) for request in malformed]
            answers.append(await raw_exchange(port, b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"))
            return port, answers
        finally:
            await runner.cleanup()

    port, answers = asyncio.run(scenario())
    assert all(answer.startswith(b"HTTP/1.0 400 ") for answer in answers[:-1])
    assert answers[-1].startswith(b"HTTP/1.1 500 ")
    lines = service_log.getvalue().splitlines()
    assert lines[0].endswith(f"INFO botsvc.service.web: HTTP on 127.0.0.1:{port} (/x)")  # the port bound, not 0
    assert lines[1].endswith(
        "WARNING botsvc.service.web.server: malformed HTTP request from 127.0.0.1 refused "
        "(HTTP 400: Got more than 8190 bytes when reading: b'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa)"
    )
    assert lines[2].endswith("ERROR botsvc.service.web.server: Error handling request from 127.0.0.1")
    assert lines[3] == logs.TRACEBACK_INDENT + "Traceback (most recent call last):"
    assert lines[-1] == logs.TRACEBACK_INDENT + "RuntimeError: handler bug"
    assert not [line for line in lines if "forged" in line or "Traceback" in line and "8190" in line]
    assert sum(1 for line in lines if not line.startswith(logs.TRACEBACK_INDENT)) == 3


def test_a_port_of_non_ascii_digits_is_a_settings_error_not_a_crash():
    import pytest

    from botsvc.service.web import WebSettingsError, http_port

    for value in ("²", "３０００"):
        with pytest.raises(WebSettingsError):
            http_port({"BOTSVC_HTTP_PORT": value})
