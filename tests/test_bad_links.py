"""A link Discord or Slack would refuse is repaired or left out, and a refused payload fails
that one message, never its channel."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request

import pytest
from discordfake import DiscordFake
from outboxworld import T0, digest, flush, queue, statuses, subscribed
from slackmock import SlackMock

from adapters.discord import DiscordAdapter, DiscordWebhookAdapter
from adapters.slack import SlackAdapter
from botsvc.deliver.adapter import ChannelAddress
from botsvc.deliver.subscriptions import all_subscriptions, parse_mode, subscribe
from botsvc.models import Digest, DigestEvent, DigestStory
from botsvc.store.store import open_store

CHANNEL = "222000000000000001"
LONG = "https://news.example/story?ref=" + "x" * 2100
BAD_LINKS = {
    "space in the host": "https://news .example/story",
    "over 2,048 characters": LONG,
    "not http": "ftp://news.example/story",
}
REPAIRED = {
    "https://news.example/a story|with <odd> bits": "https://news.example/a%20story%7Cwith%20%3Codd%3E%20bits",
    "https://ニュース.example/記事": "https://xn--zck9awe6d.example/%E8%A8%98%E4%BA%8B",
    "https://news.example/100%sure": "https://news.example/100%25sure",
}


@pytest.fixture
def store(tmp_path):
    opened = open_store(tmp_path / "bot.db")
    yield opened
    opened.close()


def linked(links: list[str]) -> Digest:
    """A digest of one event per link, titled "story 1", "story 2", ..."""
    return Digest(
        "News",
        tuple(DigestEvent(n, DigestStory(f"story {n}", "Wire", link, T0)) for n, link in enumerate(links, 1)),
        T0,
    )


def send_all(adapter, address, message):
    async def go():
        await adapter.start()
        try:
            return [await adapter.send(address, payload) for payload in adapter.render(message)]
        finally:
            await adapter.stop()

    return asyncio.run(go())


def test_the_fake_refuses_malformed_and_long_embed_urls_like_discord():
    with DiscordFake() as fake:
        for url in BAD_LINKS.values():
            body = json.dumps({"content": "x", "embeds": [{"title": "t", "url": url}]}).encode()
            request = urllib.request.Request(
                f"{fake.api_url}/channels/1/messages", body, {"Content-Type": "application/json"}
            )
            with pytest.raises(urllib.error.HTTPError) as caught:
                urllib.request.urlopen(request, timeout=5)
            assert caught.value.code == 400 and json.loads(caught.value.read())["code"] == 50035


@pytest.mark.parametrize(
    "make",
    [
        lambda fake: (DiscordAdapter("t0ken", fake.api_url), ChannelAddress("discord", CHANNEL)),
        lambda fake: (DiscordWebhookAdapter(), ChannelAddress("discord-webhook", fake.webhook_url())),
    ],
)
def test_discord_gets_only_links_it_accepts(make):
    links = [*BAD_LINKS.values(), *REPAIRED]
    with DiscordFake() as fake:
        adapter, address = make(fake)
        send_all(adapter, address, linked(links))
        [call] = fake.delivered()
    urls = [embed.get("url") for embed in call.json["embeds"]]
    assert urls == [None] * len(BAD_LINKS) + list(REPAIRED.values())  # unlinked, or repaired


def test_slack_links_are_repaired_or_left_out():
    message = linked(["https://news .example/a", LONG, "https://news.example/a story|x"])
    with SlackMock() as slack:
        send_all(SlackAdapter("xoxb-t", base_url=slack.base_url), ChannelAddress("slack", "C1"), message)
        sections = [b["text"]["text"] for b in slack.calls[0].body["blocks"] if b["type"] == "section"]
    assert sections[0].startswith("*story 1*") and sections[1].startswith("*story 2*")  # unlinked
    assert sections[2].startswith("*<https://news.example/a%20story%7Cx|story 3>*")


def test_a_refused_payload_fails_that_message_and_the_channel_goes_on(store):
    sub = subscribed(store, "discord", CHANNEL)
    refused, later = (
        queue(store, sub, "discord", CHANNEL, digest("one")),
        queue(store, sub, "discord", CHANNEL, digest("two")),
    )
    with DiscordFake() as fake:
        fake.script(
            "message",
            (
                400,
                {},
                {
                    "code": 50035,
                    "message": "Invalid Form Body",
                    "errors": {
                        "embeds": {
                            "0": {
                                "url": {
                                    "_errors": [{"code": "URL_TYPE_INVALID_URL", "message": "Not a well formed URL."}]
                                }
                            }
                        }
                    },
                },
            ),
        )
        report = flush(store, {"discord": DiscordAdapter("t0ken", fake.api_url)})
        assert len(fake.delivered()) == 1
    assert (report.failed, report.delivered, report.held) == (1, 1, 0)
    assert statuses(store) == {refused: "failed", later: "delivered"}
    assert "50035" in store.query("SELECT last_error FROM outbox WHERE id = ?", (refused,))[0]["last_error"]
    [subscription] = all_subscriptions(store)
    assert not subscription.paused

    subscribe(store, platform="discord", channel=CHANNEL, topic="japan-korea", mode=parse_mode(None), now=T0)
    assert statuses(store)[refused] == "failed"  # subscribing again does not re-queue it
