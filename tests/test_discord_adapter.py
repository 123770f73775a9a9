"""Discord adapters: embed rendering, safe text, and delivery through discord.py's own HTTP
layer against the loopback fake in tests/discordfake.py."""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from types import SimpleNamespace

import aiohttp
import discord.http
import pytest
from discordfake import DiscordFake, Reply
from processes import free_port

import adapters.discord as discord_adapter
import adapters.discord.render as discord_render
import adapters.discord.rest as discord_rest
from adapters.discord import (
    DiscordAdapter,
    DiscordMessage,
    DiscordWebhookAdapter,
    neutralise,
    parse_webhook_url,
    render_embeds,
)
from botsvc.deliver.adapter import ChannelAddress, DeliveryError
from botsvc.models import Digest, DigestEvent, DigestStory

TOKEN = "test-token"
CHANNEL = ChannelAddress("discord", "222000000000000001", workspace="111")
WHEN = datetime(2019, 8, 22, 9, 30, tzinfo=timezone.utc)
RAW_MENTION = re.compile(r"@(everyone|here)|<[@#:/t]")


def story(
    title: str = "Ship blocks canal",
    source: str = "Reuters",
    link: str = "https://r.example/1",
    published: datetime | None = WHEN,
) -> DigestStory:
    return DigestStory(title, source, link, published)


def event(
    event_id: int = 1, headline: DigestStory | None = None, others: tuple[DigestStory, ...] = (), update: bool = False
) -> DigestEvent:
    return DigestEvent(event_id, headline or story(), others, update)


def digest(*events: DigestEvent, title: str = "Shipping") -> Digest:
    return Digest(title, events, WHEN)


def two_event_digest() -> Digest:
    return digest(
        event(1, story("Ship blocks canal", "Reuters"), (story("Canal blocked", "AP"), story("Stuck ship", "BBC"))),
        event(2, story("Port strike ends", "Lloyd's List", "https://ll.example/2", None)),
    )


@pytest.fixture
def fake() -> Iterator[DiscordFake]:
    with DiscordFake() as server:
        yield server


@pytest.fixture
def backoff(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The REST client sleeps 1 + 2 * try seconds between 5xx retries: record those waits instead.

    Only the REST module's own reference to asyncio is swapped, so nothing else stops sleeping.
    """
    waits: list[float] = []
    real_sleep = asyncio.sleep

    async def record(delay: float, result: object = None) -> object:
        if delay:
            waits.append(delay)
        return await real_sleep(0, result)

    quick = SimpleNamespace(**{**vars(asyncio), "sleep": record})
    monkeypatch.setattr(discord_rest, "asyncio", quick)
    return waits


def deliver(adapter, channel: ChannelAddress, payloads: list[DiscordMessage]) -> list[str]:
    """Start, send every payload, stop: as the scheduler does, on a fresh loop."""

    async def run() -> list[str]:
        try:
            await adapter.start()
            return [await adapter.send(channel, payload) for payload in payloads]
        finally:
            await adapter.stop()

    return asyncio.run(run())


def send_error(adapter, channel: ChannelAddress = CHANNEL) -> DeliveryError:
    with pytest.raises(DeliveryError) as caught:
        deliver(adapter, channel, render_embeds(digest(event())))
    return caught.value


# -- rendering ----------------------------------------------------------------------------


def test_discord_name_is_the_library_not_this_package():
    for module in (discord_rest, discord_render):
        assert module.discord is discord and module.discord is not discord_adapter


def test_event_embed_has_title_link_source_time_and_other_sources():
    [message] = render_embeds(two_event_digest())
    first, second = message.embeds
    assert first.title == "Ship blocks canal"
    assert first.url == "https://r.example/1"
    assert first.description == "Reuters · 22 Aug 2019 09:30 UTC\n+2 more sources: AP, BBC"
    assert first.timestamp == WHEN
    assert second.description == "Lloyd's List · date unknown"
    assert second.timestamp is None
    assert message.content == "**Shipping**: 2 new events"


def test_one_other_source_is_singular_and_non_web_links_are_dropped():
    [message] = render_embeds(digest(event(headline=story(link="javascript:alert(1)"), others=(story(source="AP"),))))
    assert message.embeds[0].description.endswith("\n+1 more source: AP")
    assert message.embeds[0].url is None


@pytest.fixture
def new_york_local_time() -> Iterator[None]:
    """Local time not UTC, so reading a naive time as local would show."""
    saved = os.environ.get("TZ")
    os.environ["TZ"] = "America/New_York"
    time.tzset()
    try:
        yield
    finally:
        if saved is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = saved
        time.tzset()


def test_naive_published_time_is_read_as_utc(new_york_local_time):
    [message] = render_embeds(digest(event(headline=story(published=datetime(2019, 8, 22, 9, 30)))))
    assert message.embeds[0].timestamp == WHEN
    assert "22 Aug 2019 09:30 UTC" in message.embeds[0].description


def test_update_is_a_compact_line_not_a_new_alert():
    grown = event(7, story("Ship blocks canal", "Reuters"), (story(source="AP"), story(source="BBC")), update=True)
    [message] = render_embeds(digest(event(1), grown))
    embed = message.embeds[1]
    assert embed.title == "Update: Ship blocks canal"
    assert embed.description == "now 3 sources: Reuters, AP, BBC"
    assert embed.timestamp is None
    assert message.content == "**Shipping**: 1 new event, 1 update"


def test_empty_digest_is_one_text_message():
    assert render_embeds(digest()) == [DiscordMessage("**Shipping**: 0 new events")]


@pytest.mark.parametrize("long_text", [False, True])
def test_37_events_split_within_discord_limits_each_event_once_in_order(long_text):
    filler = " word" * 48 if long_text else ""  # ~250-char titles
    many_others = tuple(story(source=f"Outlet {n} " + "x" * 20) for n in range(40)) if long_text else ()
    events = [event(n, story(f"Story {n:02d}{filler}"), many_others) for n in range(37)]
    messages = render_embeds(digest(*events))
    for message in messages:
        assert 1 <= len(message.embeds) <= 10
        assert message.embed_chars <= 6000
    titles = [embed.title for message in messages for embed in message.embeds]
    assert [int(title[6:8]) for title in titles] == list(range(37))
    if long_text:
        assert len(messages) > 4  # the 6000-character rule split them, not just the 10-embed rule
    else:
        assert [len(m.embeds) for m in messages] == [10, 10, 10, 7]
    assert messages[0].content.endswith(f"(1/{len(messages)})")


def test_37_events_all_arrive_through_the_fake_which_enforces_discord_limits(fake):
    many_others = tuple(story(source=f"Outlet {n} " + "x" * 20) for n in range(40))
    events = [event(n, story(f"Story {n:02d}" + " word" * 48), many_others) for n in range(37)]
    messages = render_embeds(digest(*events))
    ids = deliver(DiscordAdapter(TOKEN, fake.api_url), CHANNEL, messages)
    assert len(ids) == len(set(ids)) == len(messages)
    posted = [e["title"][:8] for call in fake.delivered() for e in call.json["embeds"]]
    assert posted == [f"Story {n:02d}" for n in range(37)]


def test_over_long_title_and_sources_are_truncated_not_dropped():
    huge = event(headline=story("A" * 5000), others=tuple(story(source="S" * 300) for _ in range(30)))
    [message] = render_embeds(digest(huge))
    [embed] = message.embeds
    assert len(embed.title) == 256 and embed.title.endswith("…") and embed.title.startswith("AAAA")
    assert len(embed.description) == 4096 and embed.description.endswith("…")
    assert embed.description.startswith("Reuters · 22 Aug 2019")


# -- safe text ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("@everyone look", "@\u200beveryone look"),
        ("@here", "@\u200bhere"),
        ("<@123456789012345678>", "<\u200b@\u200b123456789012345678>"),
        ("<@!123>", "<\u200b@\u200b!123>"),
        ("<@&123>", "<\u200b@\u200b&123>"),
        ("<#123>", "<\u200b#123>"),
        ("<t:1566466200:R> <:emoji:123>", "<\u200bt:1566466200:R> <\u200b:emoji:123>"),
        ("**bold** __u__ ||spoiler||", r"\*\*bold\*\* \_\_u\_\_ \|\|spoiler\|\|"),
        ("~~gone~~ `code`", r"\~\~gone\~\~ \`code\`"),
        ("[click me](https://evil.example)", r"\[click me](https://evil.example)"),
        ("line one\n# heading\n> quote", "line one # heading > quote"),
    ],
)
def test_neutralise(raw, shown):
    assert neutralise(raw) == shown
    assert not RAW_MENTION.search(shown)


def test_feed_text_is_neutralised_in_titles_sources_and_content():
    hostile = event(
        headline=story("@everyone look <@&123> **now**", source="<#99> @here"),
        others=(story(source="<@123456789012345678>"),),
    )
    [message] = render_embeds(digest(hostile, event(2, story("@here"), update=True), title="<@&5> alerts"))
    texts = [message.content] + [t for e in message.embeds for t in (e.title, e.description)]
    for text in texts:
        assert not RAW_MENTION.search(text), text
    assert "\\*\\*now\\*\\*" in message.embeds[0].title


def test_sent_body_allows_no_mentions_and_carries_neutral_text(fake):
    hostile = digest(event(headline=story("@everyone <@123456789012345678> **x**")), event(2, story("<@&123> @here")))
    deliver(DiscordAdapter(TOKEN, fake.api_url), CHANNEL, render_embeds(hostile))
    [call] = fake.calls_to("message")
    assert call.json["allowed_mentions"] == {"parse": []}
    assert not RAW_MENTION.search(json.dumps(call.json, ensure_ascii=False))


# -- bot adapter over REST ------------------------------------------------------------


def test_send_posts_embeds_with_bot_token_and_returns_message_id(fake):
    ids = deliver(DiscordAdapter(TOKEN, fake.api_url), CHANNEL, render_embeds(two_event_digest()))
    [call] = fake.calls_to("message")
    assert call.path == "/api/v10/channels/222000000000000001/messages"
    assert ids == ["1100000000000000001"]
    assert [c.headers["authorization"] for c in fake.calls] == [f"Bot {TOKEN}", f"Bot {TOKEN}"]
    assert [c.route for c in fake.calls] == ["me", "message"]  # static_login, then the post
    body = call.json
    assert body["content"] == "**Shipping**: 2 new events"
    assert [e["title"] for e in body["embeds"]] == ["Ship blocks canal", "Port strike ends"]
    assert body["embeds"][0]["description"] == "Reuters · 22 Aug 2019 09:30 UTC\n+2 more sources: AP, BBC"
    assert body["embeds"][0]["url"] == "https://r.example/1"


def test_no_gateway_and_global_route_base_untouched(fake):
    deliver(DiscordAdapter(TOKEN, fake.api_url), CHANNEL, render_embeds(two_event_digest()))
    assert discord.http.Route.BASE == "https://discord.com/api/v10"
    assert all("/gateway" not in c.path for c in fake.calls)


def test_two_adapters_with_different_bases_do_not_leak(fake):
    with DiscordFake() as other:

        async def run() -> None:
            first, second = DiscordAdapter(TOKEN, fake.api_url), DiscordAdapter("other-token", other.api_url)
            await first.send(CHANNEL, DiscordMessage("one"))
            await second.send(CHANNEL, DiscordMessage("two"))
            await first.send(CHANNEL, DiscordMessage("three"))
            await first.stop()
            await second.stop()

        asyncio.run(run())
        assert [c.json["content"] for c in fake.delivered()] == ["one", "three"]
        assert [c.json["content"] for c in other.delivered()] == ["two"]
        assert {c.headers["authorization"] for c in other.calls} == {"Bot other-token"}


def test_env_api_url_is_used_when_no_base_url_given(fake, monkeypatch):
    monkeypatch.setenv("BOTSVC_DISCORD_API_URL", fake.api_url + "/")
    adapter = DiscordAdapter(TOKEN)
    assert adapter.base_url == fake.api_url
    assert deliver(adapter, CHANNEL, [DiscordMessage("hi")]) == ["1100000000000000001"]
    assert fake.delivered()[0].json["content"] == "hi"


def test_default_api_url_without_env(monkeypatch):
    monkeypatch.delenv("BOTSVC_DISCORD_API_URL", raising=False)
    assert DiscordAdapter(TOKEN).base_url == "https://discord.com/api/v10"
    assert DiscordAdapter(TOKEN, "http://127.0.0.1:1/api/").base_url == "http://127.0.0.1:1/api"


def test_bad_settings_are_value_errors(fake):
    with pytest.raises(ValueError):
        DiscordAdapter("")
    with pytest.raises(ValueError):
        DiscordAdapter(TOKEN, "ftp://127.0.0.1/api")
    with pytest.raises(ValueError, match="channel id"):
        asyncio.run(
            DiscordAdapter(TOKEN, fake.api_url).send(ChannelAddress("discord", "#general"), DiscordMessage("x"))
        )
    assert fake.calls == []


def test_rate_limit_is_waited_out_then_delivered_once(fake):
    fake.script(
        "message",
        (
            429,
            {"Retry-After": "0.1", "X-RateLimit-Scope": "user"},
            {"message": "You are being rate limited.", "retry_after": 0.1, "global": False},
        ),
    )
    ids = deliver(DiscordAdapter(TOKEN, fake.api_url), CHANNEL, [DiscordMessage("hi")])
    limited, accepted = fake.calls_to("message")
    assert (limited.status, accepted.status) == (429, 200)
    assert accepted.at - limited.at >= 0.1
    assert ids == ["1100000000000000001"] and len(fake.delivered()) == 1


def test_long_rate_limit_is_handed_back_with_retry_after(fake):
    fake.script("message", (429, {"Retry-After": "120"}, {"message": "slow down", "retry_after": 120, "global": False}))
    started = time.monotonic()
    error = send_error(DiscordAdapter(TOKEN, fake.api_url))
    assert time.monotonic() - started < 5
    assert not error.permanent and error.retry_after == 120
    assert len(fake.calls_to("message")) == 1


def test_rate_limit_that_never_clears_is_temporary_with_retry_after(fake):
    limited = (429, {"Retry-After": "0.01"}, {"message": "rate limited", "retry_after": 0.01, "global": False})
    fake.script("message", *[limited] * 5)
    error = send_error(DiscordAdapter(TOKEN, fake.api_url))
    assert not error.permanent and error.retry_after == 0.01
    assert len(fake.calls_to("message")) == 5 and fake.delivered() == []


@pytest.mark.parametrize(
    ("status", "body", "words"),
    [
        (403, {"message": "Missing Access", "code": 50001}, ["403", "Missing Access", "50001"]),
        (404, {"message": "Unknown Channel", "code": 10003}, ["404", "Unknown Channel", "10003"]),
        (400, {"message": "Invalid Form Body", "code": 50035}, ["400", "50035"]),
    ],
)
def test_client_errors_are_permanent(fake, status, body, words):
    fake.script("message", (status, {}, body))
    error = send_error(DiscordAdapter(TOKEN, fake.api_url))
    assert error.permanent and error.retry_after is None
    assert all(word in str(error) for word in words)
    assert len(fake.calls_to("message")) == 1


def test_rejected_token_is_permanent(fake):
    fake.script("me", (401, {}, {"message": "401: Unauthorized", "code": 0}))
    error = send_error(DiscordAdapter(TOKEN, fake.api_url))
    assert error.permanent and "token" in str(error)
    assert fake.calls_to("message") == []


def test_server_errors_are_retried_by_discord_py_then_temporary(fake, backoff):
    fake.script("message", *[(500, {}, {"message": "Internal Server Error", "code": 0})] * 5)
    error = send_error(DiscordAdapter(TOKEN, fake.api_url))
    assert not error.permanent and "500" in str(error)
    assert len(fake.calls_to("message")) == 5 and fake.delivered() == []
    assert backoff == [1, 3, 5, 7, 9]


def test_server_error_then_success_is_delivered(fake, backoff):
    fake.script("message", (502, {}, {"message": "Bad Gateway", "code": 0}))
    assert deliver(DiscordAdapter(TOKEN, fake.api_url), CHANNEL, [DiscordMessage("hi")]) == ["1100000000000000001"]
    assert backoff == [1]


def test_connection_refused_is_temporary():
    adapter = DiscordAdapter(TOKEN, f"http://127.0.0.1:{free_port()}/api/v10")
    error = send_error(adapter)
    assert not error.permanent and isinstance(error.__cause__, aiohttp.ClientError | OSError)


def test_unreachable_api_at_start_is_a_temporary_delivery_error():
    adapter = DiscordAdapter(TOKEN, f"http://127.0.0.1:{free_port()}/api/v10")
    with pytest.raises(DeliveryError) as caught:
        asyncio.run(adapter.start())
    assert not caught.value.permanent


def test_slow_api_times_out_as_temporary(fake):
    fake.script("message", Reply(200, body={"id": "1"}, delay=2))
    started = time.monotonic()
    error = send_error(DiscordAdapter(TOKEN, fake.api_url, timeout=0.2))
    assert time.monotonic() - started < 1.5
    assert not error.permanent


def test_stop_closes_the_session(fake):
    adapter = DiscordAdapter(TOKEN, fake.api_url)

    async def run() -> bool:
        await adapter.start()
        session = adapter._http.session
        await adapter.stop()
        return session.closed

    assert asyncio.run(run()) and adapter._http is None


# -- webhook adapter ----------------------------------------------------------------------


def test_webhook_posts_with_wait_and_returns_message_id(fake):
    url = fake.webhook_url(123456789012345678, "tok-en_1.2")
    ids = deliver(DiscordWebhookAdapter(), ChannelAddress("discord", url), render_embeds(two_event_digest()))
    [call] = fake.calls_to("webhook")
    assert call.path == "/api/webhooks/123456789012345678/tok-en_1.2"
    assert call.query["wait"] in ("1", "true")
    assert ids == ["1100000000000000001"]
    assert call.json["allowed_mentions"] == {"parse": []}
    assert [e["title"] for e in call.json["embeds"]] == ["Ship blocks canal", "Port strike ends"]
    assert "authorization" not in call.headers  # the token is in the URL


def test_webhook_errors_map_like_the_bot_adapter(fake, backoff):
    channel = ChannelAddress("discord", fake.webhook_url())
    fake.script("webhook", (404, {}, {"message": "Unknown Webhook", "code": 10015}))
    gone = send_error(DiscordWebhookAdapter(), channel)
    assert gone.permanent and "10015" in str(gone)
    fake.script("webhook", *[(503, {}, {"message": "Service Unavailable", "code": 0})] * 5)
    down = send_error(DiscordWebhookAdapter(), channel)
    assert not down.permanent and backoff == [1, 3, 5, 7, 9]
    refused = send_error(
        DiscordWebhookAdapter(), ChannelAddress("discord", fake.webhook_url().replace(str(fake.port), str(free_port())))
    )
    assert not refused.permanent


def test_webhook_rate_limit_is_waited_out(fake):
    fake.script("webhook", (429, {"Retry-After": "0.1"}, {"message": "limited", "retry_after": 0.1, "global": False}))
    deliver(DiscordWebhookAdapter(), ChannelAddress("discord", fake.webhook_url()), [DiscordMessage("hi")])
    assert [c.status for c in fake.calls_to("webhook")] == [429, 200]


@pytest.mark.parametrize(
    "url",
    [
        "ftp://127.0.0.1/api/webhooks/1/abc",
        "https://discord.com/channels/1/2",
        "https://discord.com/api/webhooks/abc/def",
        "not a url",
    ],
)
def test_webhook_url_must_be_an_http_webhook_url(url):
    with pytest.raises(ValueError):
        parse_webhook_url(url)
    with pytest.raises(ValueError):
        asyncio.run(DiscordWebhookAdapter().send(ChannelAddress("discord", url), DiscordMessage("x")))


def test_webhook_url_parsing():
    token = "a" * 68
    real = parse_webhook_url(f"https://discord.com/api/webhooks/123456789012345678/{token}")
    assert (real.base_url, real.id, real.token) == (discord.http.Route.BASE, 123456789012345678, token)
    local = parse_webhook_url("http://127.0.0.1:8080/proxy/api/webhooks/42/t0k?wait=true")
    assert (local.base_url, local.id, local.token) == ("http://127.0.0.1:8080/proxy/api", 42, "t0k")


def test_fake_reads_payload_json_from_multipart_bodies(fake):
    async def post() -> None:
        form = aiohttp.FormData()
        form.add_field("payload_json", json.dumps({"content": "with a file"}))
        form.add_field("files[0]", b"data", filename="a.txt")
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{fake.api_url}/channels/1/messages", data=form) as response:
                assert response.status == 200

    asyncio.run(post())
    assert fake.calls_to("message")[0].json == {"content": "with a file"}


def test_the_outbox_key_is_sent_as_an_enforced_nonce(fake: DiscordFake) -> None:
    adapter = DiscordAdapter("bot-token", base_url=fake.api_url)
    [payload] = adapter.render(digest(event(1, story("Nonce check"))))

    async def go() -> None:
        try:
            await adapter.send(ChannelAddress("discord", "222000000000000001"), payload, key="bs-7-0")
        finally:
            await adapter.stop()

    asyncio.run(go())
    [call] = fake.delivered()
    assert call.json["nonce"] == "bs-7-0" and call.json["enforce_nonce"] is True
