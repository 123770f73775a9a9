"""Slack adapters: Block Kit rendering, safe text, and delivery through the real slack_sdk
clients against a loopback mock of Slack (tests/slackmock.py)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from processes import free_port
from slackmock import DISCONNECT, SlackMock

from adapters.slack import (
    API_URL_ENV,
    SlackAdapter,
    SlackWebhookAdapter,
    render_blocks,
    render_event,
    safe_link,
)
from botsvc.deliver.adapter import ChannelAddress, DeliveryError, Limits
from botsvc.models import Digest, DigestEvent, DigestStory

WHEN = datetime(2019, 8, 22, 9, 30, tzinfo=timezone.utc)
CHANNEL = ChannelAddress("slack", "C1")


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy and no API URL from the environment: requests go straight to 127.0.0.1."""
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", API_URL_ENV):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def slack() -> Iterator[SlackMock]:
    with SlackMock() as mock:
        yield mock


def story(
    title: str, source: str = "Reuters", link: str = "https://example.com/a", published: datetime | None = WHEN
) -> DigestStory:
    return DigestStory(title, source, link, published)


def event(event_id: int, title: str, *others: str, update: bool = False, **lead: Any) -> DigestEvent:
    extra = tuple(story(f"{title} ({name})", name, f"https://example.com/{name}") for name in others)
    return DigestEvent(event_id, story(title, **lead), extra, update)


def digest(*events: DigestEvent, title: str = "World news") -> Digest:
    return Digest(title, events, WHEN)


def section_texts(payload: dict) -> list[str]:
    return [block["text"]["text"] for block in payload["blocks"] if block["type"] == "section"]


def all_texts(node: Any) -> Iterator[str]:
    """Every text string in a payload: the fallback and each text object."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "text" and isinstance(value, str):
                yield value
            else:
                yield from all_texts(value)
    elif isinstance(node, list):
        for item in node:
            yield from all_texts(item)


def run(adapter: SlackAdapter | SlackWebhookAdapter, address: ChannelAddress, payload: dict) -> str:
    """Start the adapter, send one payload, stop it; all on a fresh event loop."""

    async def go() -> str:
        await adapter.start()
        try:
            return await adapter.send(address, payload)
        finally:
            await adapter.stop()

    return asyncio.run(go())


def fail(adapter: SlackAdapter | SlackWebhookAdapter, address: ChannelAddress = CHANNEL) -> DeliveryError:
    with pytest.raises(DeliveryError) as caught:
        run(adapter, address, render_blocks(digest(event(1, "Quake")))[0])
    return caught.value


# --- rendering -----------------------------------------------------------------------


def test_blocks_show_title_link_source_time_and_other_sources():
    payloads = render_blocks(
        digest(
            event(7, "Quake hits coast", "BBC", "AP"),
            event(8, "Markets calm", source="FT", link="", published=None),
        )
    )
    assert len(payloads) == 1
    blocks = payloads[0]["blocks"]
    assert blocks[0] == {"type": "header", "text": {"type": "plain_text", "text": "World news"}}
    assert section_texts(payloads[0]) == [
        "*<https://example.com/a|Quake hits coast>*\nReuters · 22 Aug 2019 09:30 UTC\n+2 more sources: BBC, AP",
        "*Markets calm*\nFT · date unknown",
    ]
    assert payloads[0]["text"] == "World news: 2 new events"


def test_an_update_is_one_update_line_not_a_new_alert():
    payload = render_blocks(digest(event(3, "Quake hits coast", "BBC", "AP", update=True)))[0]
    assert section_texts(payload) == [
        "Update: <https://example.com/a|Quake hits coast> — now 3 sources: Reuters, BBC, AP"
    ]
    assert payload["text"] == "World news: 0 new events, 1 update"


def test_times_are_shown_in_utc():
    paris = timezone(timedelta(hours=2))
    text = render_event(event(1, "Quake", published=datetime(2019, 8, 22, 11, 30, tzinfo=paris)))
    assert "Reuters · 22 Aug 2019 09:30 UTC" in text


def test_a_large_digest_is_split_without_losing_or_repeating_an_event():
    events = [event(i, f"Story {i:03d}", *(f"Src{j}" for j in range(i % 4))) for i in range(120)]
    payloads = render_blocks(digest(*events))
    assert len(payloads) > 1
    for number, payload in enumerate(payloads, 1):
        assert len(payload["blocks"]) <= 50
        assert all(len(text) <= 3000 for text in all_texts(payload))
        assert payload["blocks"][0]["text"]["text"] == f"World news ({number}/{len(payloads)})"
        assert len(payload["text"]) <= 3000
    shown = [t for p in payloads for text in section_texts(p) for t in re.findall(r"Story \d{3}", text)]
    assert shown == [f"Story {i:03d}" for i in range(120)]
    assert sum(len(section_texts(p)) for p in payloads) == 120


def test_an_over_long_title_and_source_list_are_cut_not_dropped():
    others = [f"Outlet number {i}" for i in range(300)]
    text = section_texts(render_blocks(digest(event(1, "x" * 5000, *others)))[0])[0]
    assert len(text) <= 3000
    assert text.startswith("*<https://example.com/a|xxxx")
    assert "x…>*\n" in text
    assert "\nReuters · 22 Aug 2019 09:30 UTC\n+300 more sources: Outlet number 0, " in text
    assert text.endswith("…")


def test_a_long_digest_title_fits_the_header():
    payload = render_blocks(digest(event(1, "Quake"), title="T" * 400))[0]
    header = payload["blocks"][0]["text"]["text"]
    assert len(header) == 150 and header.endswith("T…")
    assert len(payload["text"]) < 300


def test_an_empty_digest_still_renders_one_message():
    payloads = render_blocks(digest())
    assert len(payloads) == 1
    assert section_texts(payloads[0]) == ["Nothing new."]


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        ("https://example.com/a?x=1&y=2", "https://example.com/a?x=1&amp;y=2"),
        ("https://example.com/a|b<c>d e", "https://example.com/a%7Cb%3Cc%3Ed%20e"),
        ("HTTP://example.com/é", "HTTP://example.com/%C3%A9"),
        ("javascript:alert(1)", None),
        ("slack://channel?id=C1", None),
        ("mailto:a@example.com", None),
        ("https://", None),
        ("https://example.com/" + "a" * 2000, None),
    ],
)
def test_only_http_links_are_linked_and_addresses_cannot_break_out(link, expected):
    assert safe_link(link) == expected


def test_feed_text_cannot_add_lines():
    text = render_event(event(1, "First\n\n> second\tline", source="Wire\n> quote"))
    assert text == "*<https://example.com/a|First &gt; second line>*\nWire &gt; quote · 22 Aug 2019 09:30 UTC"


def test_a_non_http_link_leaves_the_title_unlinked():
    text = render_event(event(1, "Click me", link="javascript:alert(1)"))
    assert text.startswith("*Click me*\n")
    assert "<" not in text


# --- sending through the Web API -------------------------------------------------------


def test_send_posts_blocks_with_the_bot_token_and_returns_the_ts(slack):
    adapter = SlackAdapter("xoxb-test-token", base_url=slack.base_url)
    payload = render_blocks(digest(event(1, "Quake", "BBC")))[0]
    slack.script((200, {}, {"ok": True, "ts": "1566466200.000100", "channel": "C1"}))

    assert run(adapter, CHANNEL, payload) == "1566466200.000100"

    [call] = slack.calls
    assert call.path == "/api/chat.postMessage"
    assert call.headers["authorization"] == "Bearer xoxb-test-token"
    assert call.body["channel"] == "C1"
    assert call.body["text"] == payload["text"]
    assert call.body["blocks"] == payload["blocks"]
    assert call.body["unfurl_links"] is False and call.body["unfurl_media"] is False


def test_feed_text_reaches_slack_as_literal_text(slack):
    hostile = digest(
        event(1, "<!channel> alert", source="AT&T News"),
        event(2, "<https://evil.example|click here>", source="> Wire", link=""),
        event(3, "Ping <@U123> & <!here>"),
        event(4, "*bold* _it_ ~s~ `code`"),
        event(5, "Grows", "B&B", update=True),
        title="<!here> Digest & co",
    )
    payload = render_blocks(hostile)[0]
    run(SlackAdapter("xoxb-t", base_url=slack.base_url), CHANNEL, payload)

    body = slack.calls[0].body
    assert [b["text"]["text"] for b in body["blocks"] if b["type"] == "section"] == [
        "*<https://example.com/a|&lt;!channel&gt; alert>*\nAT&amp;T News · 22 Aug 2019 09:30 UTC",
        "*&lt;https://evil.example|click here&gt;*\n＞ Wire · 22 Aug 2019 09:30 UTC",
        "*<https://example.com/a|Ping &lt;@U123&gt; &amp; &lt;!here&gt;>*\nReuters · 22 Aug 2019 09:30 UTC",
        "*<https://example.com/a|＊bold＊ ＿it＿ ～s～ ｀code｀>*\nReuters · 22 Aug 2019 09:30 UTC",
        "Update: <https://example.com/a|Grows> — now 2 sources: Reuters, B&amp;B",
    ]
    assert body["blocks"][0]["text"]["text"] == "&lt;!here&gt; Digest &amp; co"
    assert body["text"] == "&lt;!here&gt; Digest &amp; co: 4 new events, 1 update"
    raw = slack.calls[0].raw
    for injected in ("<!channel>", "<!here>", "<@U123>", "<https://evil"):
        assert injected not in raw


def test_rate_limit_gives_retry_after_and_the_sdk_does_not_retry(slack):
    slack.script((429, {"Retry-After": "7"}, {"ok": False, "error": "ratelimited"}))
    error = fail(SlackAdapter("xoxb-t", base_url=slack.base_url))
    assert error.retry_after == 7.0 and not error.permanent
    assert len(slack.calls) == 1


def test_server_error_is_temporary(slack):
    slack.script((500, {}, {"ok": False, "error": "internal_error"}))
    error = fail(SlackAdapter("xoxb-t", base_url=slack.base_url))
    assert not error.permanent and error.retry_after is None
    assert len(slack.calls) == 1


@pytest.mark.parametrize(
    "code", ["channel_not_found", "not_in_channel", "is_archived", "invalid_auth", "token_revoked", "missing_scope"]
)
def test_gone_channels_and_bad_tokens_are_permanent(slack, code):
    slack.script((200, {}, {"ok": False, "error": code}))
    error = fail(SlackAdapter("xoxb-t", base_url=slack.base_url))
    assert error.permanent and code in str(error)


def test_other_slack_errors_are_temporary(slack):
    slack.script((200, {}, {"ok": False, "error": "fatal_error"}))
    error = fail(SlackAdapter("xoxb-t", base_url=slack.base_url))
    assert not error.permanent and "fatal_error" in str(error)


def test_a_dropped_connection_is_temporary_and_not_retried_by_the_sdk(slack):
    slack.script(DISCONNECT, DISCONNECT)
    error = fail(SlackAdapter("xoxb-t", base_url=slack.base_url))
    assert not error.permanent and "unreachable" in str(error)
    assert len(slack.calls) == 1
    error = fail(SlackWebhookAdapter(), ChannelAddress("slack-webhook", slack.hook_url()))
    assert not error.permanent and "unreachable" in str(error)
    assert len(slack.calls) == 2


def test_unreachable_api_is_temporary():
    error = fail(SlackAdapter("xoxb-t", base_url=f"http://127.0.0.1:{free_port()}/api/"))
    assert not error.permanent and error.retry_after is None


def test_api_url_comes_from_the_environment_unless_given(slack, monkeypatch):
    assert SlackAdapter("xoxb-t").client.base_url == "https://slack.com/api/"
    monkeypatch.setenv(API_URL_ENV, slack.base_url)
    adapter = SlackAdapter("xoxb-t")
    assert adapter.client.base_url == slack.base_url
    assert run(adapter, CHANNEL, render_blocks(digest(event(1, "Quake")))[0]) == "1700000000.000001"
    assert [call.path for call in slack.calls] == ["/api/chat.postMessage"]
    assert SlackAdapter("xoxb-t", base_url="http://127.0.0.1:9/api/").client.base_url == "http://127.0.0.1:9/api/"


def test_one_session_serves_every_send_until_stop(slack):
    adapter = SlackAdapter("xoxb-t", base_url=slack.base_url)
    payloads = render_blocks(digest(*(event(i, f"Story {i}") for i in range(45))))

    async def go() -> tuple[list[str], Any]:
        await adapter.start()
        session = adapter.client.session
        ids = [await adapter.send(CHANNEL, payload) for payload in payloads]
        assert adapter.client.session is session and not session.closed
        await adapter.stop()
        return ids, session

    ids, session = asyncio.run(go())
    assert ids == ["1700000000.000001", "1700000000.000002", "1700000000.000003"]
    assert session.closed and adapter.client.session is None


def test_both_adapters_share_name_limits_and_rendering():
    sample = digest(*(event(i, f"Story {i}") for i in range(21)))
    for adapter, name in ((SlackAdapter("xoxb-t"), "slack"), (SlackWebhookAdapter(), "slack-webhook")):
        assert adapter.name == name
        assert adapter.limits == Limits(max_chars=3000, max_events=20)
        assert adapter.render(sample) == render_blocks(sample)
        assert [len(section_texts(p)) for p in adapter.render(sample)] == [20, 1]


# --- sending through an incoming webhook ------------------------------------------------


def test_webhook_posts_the_payload_to_the_hook(slack):
    url = slack.hook_url("T1/B1/secret")
    payload = render_blocks(digest(event(1, "Quake", "BBC")))[0]
    message_id = run(SlackWebhookAdapter(), ChannelAddress("slack-webhook", url), payload)

    assert re.fullmatch(r"webhook-[0-9a-f]{12}", message_id)
    [call] = slack.calls
    assert call.path == "/hooks/T1/B1/secret"
    assert call.body["text"] == payload["text"] and call.body["blocks"] == payload["blocks"]
    assert "authorization" not in call.headers
    other = render_blocks(digest(event(2, "Flood")))[0]
    assert run(SlackWebhookAdapter(), ChannelAddress("slack-webhook", url), other) != message_id


@pytest.mark.parametrize(
    ("status", "body"),
    [(404, "no_service"), (403, "action_prohibited"), (410, "channel_is_archived"), (400, "invalid_token")],
)
def test_a_dead_webhook_is_permanent_and_its_url_stays_secret(slack, status, body):
    slack.script((status, {}, body))
    error = fail(SlackWebhookAdapter(), ChannelAddress("slack-webhook", slack.hook_url("T1/B1/secret")))
    assert error.permanent and body in str(error)
    assert "secret" not in str(error)


def test_webhook_rate_limit_and_server_errors_are_temporary(slack):
    address = ChannelAddress("slack-webhook", slack.hook_url())
    slack.script((429, {"Retry-After": "3"}, "rate_limited"), (503, {}, "service unavailable"))
    limited = fail(SlackWebhookAdapter(), address)
    assert limited.retry_after == 3.0 and not limited.permanent
    down = fail(SlackWebhookAdapter(), address)
    assert not down.permanent and down.retry_after is None
    assert len(slack.calls) == 2


def test_unreachable_webhook_is_temporary():
    error = fail(SlackWebhookAdapter(), ChannelAddress("slack-webhook", f"http://127.0.0.1:{free_port()}/hooks/x"))
    assert not error.permanent


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/hooks/x", "javascript:alert(1)", "hooks.slack.com/x", ""])
def test_only_http_webhook_urls_are_accepted(url):
    with pytest.raises(ValueError) as caught:
        run(SlackWebhookAdapter(), ChannelAddress("slack-webhook", url), render_blocks(digest())[0])
    assert isinstance(caught.value, DeliveryError) and caught.value.permanent
