"""The Discord REST client: documented endpoints over plain aiohttp at a configurable base URL.

discord.py's HTTP layer (``discord.http.HTTPClient``, ``Route``) is private; rebasing it
onto another API URL broke silently on upgrades, so nothing in the project may use it.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from discordfake import DiscordFake

from adapters.discord.render import message_body
from adapters.discord.rest import DiscordHTTPError, DiscordRest, RateLimited

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "rest-token-do-not-print"
PRIVATE = re.compile(
    r"\bdiscord\.(http|webhook\.async_)\b|\bHTTPClient\b|\bRoute\.BASE\b|"
    r"from\s+discord\s+import\s+[^\n]*\b(http|HTTPClient)\b"
)


@pytest.fixture
def fake() -> Iterator[DiscordFake]:
    with DiscordFake() as server:
        yield server


def test_no_source_uses_discord_pys_private_http_layer():
    sources = [path for folder in ("adapters", "botsvc") for path in sorted((ROOT / folder).rglob("*.py"))]
    assert len(sources) > 20
    offenders = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in sources
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if PRIVATE.search(line)
    ]
    assert offenders == []


def test_requests_go_to_the_configured_base_url_with_the_bot_token(fake):
    async def go() -> tuple[object, object]:
        bot = DiscordRest(f"{fake.base_url}/proxy/discord/", token=TOKEN, timeout=5)
        hook = DiscordRest(f"{fake.base_url}/elsewhere", timeout=5)
        try:
            posted = await bot.create_message(42, message_body("hi", (), nonce="n-1"))
            hooked = await hook.execute_webhook(7, "hook-tok", message_body("via hook", ()))
        finally:
            await bot.close()
            await hook.close()
        return posted, hooked

    posted, hooked = asyncio.run(go())
    message, webhook = fake.calls
    assert message.path == "/proxy/discord/channels/42/messages"
    assert message.headers["authorization"] == f"Bot {TOKEN}"
    assert message.headers["user-agent"].startswith("DiscordBot (")
    assert message.json == {
        "content": "hi",
        "embeds": [],
        "tts": False,
        "allowed_mentions": {"parse": []},
        "nonce": "n-1",
        "enforce_nonce": True,
    }
    assert (webhook.path, webhook.query) == ("/elsewhere/webhooks/7/hook-tok", {"wait": "true"})
    assert "authorization" not in webhook.headers  # the webhook's token is its path
    assert posted["id"] and hooked["id"] and hooked["webhook_id"] == "7"


def test_an_exhausted_bucket_is_waited_for_before_the_next_post(fake):
    fake.script("message", (200, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset-After": "0.3"}, {"id": "1"}))

    async def go() -> None:
        rest = DiscordRest(fake.api_url, token=TOKEN, timeout=5)
        try:
            await rest.create_message(42, message_body("one", ()))
            await rest.create_message(42, message_body("two", ()))
        finally:
            await rest.close()

    asyncio.run(go())
    first, second = fake.calls_to("message")
    assert second.at - first.at >= 0.3


def test_field_errors_are_spelled_out_and_no_token_is_repeated(fake):
    fake.script(
        "webhook",
        (
            400,
            {},
            {
                "message": "Invalid Form Body",
                "code": 50035,
                "errors": {
                    "embeds": {
                        "0": {
                            "url": {"_errors": [{"code": "URL_TYPE_INVALID_URL", "message": "Not a well formed URL."}]}
                        }
                    }
                },
            },
        ),
    )

    async def go() -> DiscordHTTPError:
        rest = DiscordRest(fake.api_url, timeout=5)
        try:
            with pytest.raises(DiscordHTTPError) as caught:
                await rest.execute_webhook(7, "HOOK-SECRET", message_body("x", ()))
            return caught.value
        finally:
            await rest.close()

    error = asyncio.run(go())
    assert (error.status, error.code) == (400, 50035)
    assert "In embeds.0.url: Not a well formed URL." in str(error)
    assert "HOOK-SECRET" not in str(error)


def test_a_long_rate_limit_on_a_webhook_is_handed_back_not_slept(fake):
    fake.script("webhook", (429, {"Retry-After": "120"}, {"message": "slow down", "retry_after": 120, "global": False}))

    async def go() -> RateLimited:
        rest = DiscordRest(fake.api_url, timeout=5)
        try:
            with pytest.raises(RateLimited) as caught:
                await asyncio.wait_for(rest.execute_webhook(7, "tok", message_body("x", ())), 5)
            return caught.value
        finally:
            await rest.close()

    assert asyncio.run(go()).retry_after == 120
    assert len(fake.calls_to("webhook")) == 1
