"""Message templates: /news template through the real command core and store, feeds.toml and
--template validation, the outbox JSON, and rendering of every field and a hostile header on the
console, Slack and Discord."""

import asyncio
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from adapters.console import render_text
from adapters.discord.render import render_embeds
from adapters.slack.render import render_blocks
from botsvc.config import ConfigError, parse_config
from botsvc.deliver.delivery import queue_digests
from botsvc.deliver.digest import digest_from_json, digest_to_json
from botsvc.deliver.subscriptions import all_subscriptions
from botsvc.deliver.templates import (
    TemplateError,
    lead_sentence,
    parse_fields,
    parse_header,
    template_from_options,
)
from botsvc.models import (
    DEFAULT_FIELDS,
    TEMPLATE_FIELDS,
    CommandContext,
    Digest,
    DigestEvent,
    DigestStory,
    FeedItem,
    Template,
)
from botsvc.service.app import open_app

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "feeds.toml"
WHEN = datetime(2019, 8, 22, 10, 0, tzinfo=timezone.utc)
HOSTILE = ("<!channel>", "@everyone", "*bold*", "<https://evil|x>")
TOPIC = "\n[topics.t]\ntitle = 'T'\n[[topics.t.rules]]\nany = ['GSOMIA']\n"


# --- the command core ----------------------------------------------------------------


@pytest.fixture
def app(db_at):
    application = open_app(CONFIG, db_at("d.db"))
    yield application
    application.close()


def ctx(channel="C1", manager=True):
    return CommandContext(platform="slack", channel=channel, workspace="T1", user="U1", can_manage=manager)


def run(app, text, channel="C1", manager=True):
    return asyncio.run(app.commands().run(text, ctx(channel, manager)))


def templates(app):
    return {(s.channel, s.topic): s.template for s in all_subscriptions(app.store)}


def test_set_show_and_reset_a_channels_template(app):
    assert run(app, "subscribe").ok and run(app, "subscribe", "C2").ok
    shown = run(app, "template show")
    assert shown.ok and [line.text for line in shown.lines] == [
        "header: the topic's title",
        "shown: outlet, time, link, sources",
        "hidden: summary",
    ]

    reply = run(app, 'template set header "Morning brief"')
    assert reply.ok and reply.ephemeral and reply.lines[0].text == "header: Morning brief"
    reply = run(app, "template set fields outlet, link,summary")
    assert reply.ok and [line.text for line in reply.lines][1:] == [
        "shown: outlet, link, summary",
        "hidden: time, sources",
    ]
    mine = templates(app)[("C1", "japan-korea")]
    assert mine == Template(frozenset({"outlet", "link", "summary"}), "Morning brief")
    assert templates(app)[("C2", "japan-korea")] == Template()  # other channels unaffected
    assert "template: fields outlet,link,summary; header 'Morning brief'" in run(app, "subscriptions").lines[0].text

    assert run(app, "template reset header").ok
    assert templates(app)[("C1", "japan-korea")] == Template(frozenset({"outlet", "link", "summary"}))
    assert run(app, "template reset fields").ok and templates(app)[("C1", "japan-korea")] == Template()
    run(app, "template set header Evening")
    assert run(app, "template reset").ok and templates(app)[("C1", "japan-korea")] == Template()
    stored = app.store.query("SELECT template FROM subscriptions WHERE channel = 'C1'")
    assert stored == [{"template": None}]  # the default is stored as NULL


@pytest.mark.parametrize(
    "text,problem",
    [
        ("template set header", "expected template show"),
        ("template set header " + "x" * 81, "at most 80"),
        ("template set header \u202eevil", "U+202E"),
        ("template set header a\u200bb", "U+200B"),
        ('template set header ""', "give some text"),
        ("template set fields outlet,colour", "unknown field 'colour'"),
        ("template set fields", "expected template show"),
        ("template set colour red", "expected template show"),
        ("template reset everything", "expected template show"),
        ("template show me", "expected template show"),
    ],
)
def test_bad_template_input_changes_nothing_and_gets_a_usage_line(app, text, problem):
    run(app, "subscribe")
    run(app, "template set header Kept")
    before = templates(app)
    reply = run(app, text)
    assert not reply.ok and problem in reply.title and reply.title.endswith("— usage:")
    assert [line.text for line in reply.lines] == [
        "/news template show | template set header <text> | template set fields outlet,time,link,sources,summary | "
        "template reset [header | fields]: what this channel's alerts show (listed fields are shown, the others "
        "hidden) and a header instead of the topic title (channel managers)"
    ]
    assert templates(app) == before


def test_managing_a_template_needs_the_subscribe_permission_and_a_subscription(app):
    assert "only people who manage this channel" in run(app, "template set header X", manager=False).title
    reply = run(app, "template show")
    assert not reply.ok and "no subscriptions yet" in reply.title
    run(app, "subscribe")
    assert not run(app, "template reset", manager=False).ok
    assert templates(app)[("C1", "japan-korea")] == Template()


def test_header_is_normalised():
    assert parse_header("  “Ｍorning   brief”  ") == "Morning brief"  # NFKC, quotes, single spaces
    assert parse_header("<!channel>") == "<!channel>"  # text stays as typed: adapters escape it
    with pytest.raises(TemplateError, match=r"U\+000A"):
        parse_header("two\nlines")
    assert parse_fields(["summary", "LINK"]) == frozenset({"summary", "link"})


def test_first_sentence_of_a_summary_clipped():
    assert lead_sentence("Seoul said it would end the pact. Tokyo regrets it.") == "Seoul said it would end the pact."
    assert lead_sentence("韓国政府は協定の破棄を通告した。日本は遺憾とした。") == "韓国政府は協定の破棄を通告した。"
    assert lead_sentence("U.S.-made radar, no full stop") == "U.S.-made radar, no full stop"
    long = lead_sentence("word " * 100)
    assert len(long) == 280 and long.endswith("…")


# --- feeds.toml and --template --------------------------------------------------------


def config_with(template: str):
    return parse_config(
        f"[[subscriptions]]\nplatform = 'slack'\nchannel = 'C1'\ntopic = 't'\ntemplate = {template}\n" + TOPIC,
        "feeds.toml",
    )


def test_config_template_is_validated_at_load():
    config = config_with('{header = "Morning brief", fields = ["outlet", "summary"]}')
    assert config.subscriptions[0].template == Template(frozenset({"outlet", "summary"}), "Morning brief")
    assert config_with("{}").subscriptions[0].template == Template()
    assert (
        parse_config("[[subscriptions]]\nplatform='slack'\nchannel='C1'\ntopic='t'\n" + TOPIC).subscriptions[0].template
        is None
    )


@pytest.mark.parametrize(
    "template,key,problem",
    [
        ('{header = "' + "x" * 81 + '"}', "subscriptions[0].template.header", "at most 80"),
        ('{header = "a\\u200bb"}', "subscriptions[0].template.header", "U+200B"),
        ("{header = 3}", "subscriptions[0].template.header", "expected a string"),
        ('{fields = ["outlet", "colour"]}', "subscriptions[0].template.fields", "unknown field 'colour'"),
        ('{fields = "outlet"}', "subscriptions[0].template.fields", "expected a list"),
        ("{colour = 1}", "subscriptions[0].template.colour", "unknown key"),
        ('"outlet"', "subscriptions[0].template", "expected a table"),
    ],
)
def test_bad_config_template_is_one_line_file_key_problem(template, key, problem):
    with pytest.raises(ConfigError) as err:
        config_with(template)
    message = str(err.value)
    assert message.startswith(f"feeds.toml: {key}: ") and problem in message and "\n" not in message


def test_a_configured_template_is_stored_at_start_up_and_follows_the_file(tmp_path):
    text = CONFIG.read_text(encoding="utf-8")
    path = tmp_path / "feeds.toml"
    entry = '\n[[subscriptions]]\nplatform = "console"\nchannel = "stdout"\ntemplate = {}\n'
    path.write_text(text + entry.format('{header = "Morning brief", fields = ["outlet", "link"]}'), encoding="utf-8")
    application = open_app(path, tmp_path / "d.db")
    try:
        application.sync_subscriptions()
        assert [s.template for s in all_subscriptions(application.store)] == [
            Template(frozenset({"outlet", "link"}), "Morning brief")
        ]
    finally:
        application.close()
    path.write_text(text + entry.format('{header = "Evening"}'), encoding="utf-8")
    application = open_app(path, tmp_path / "d.db")
    try:
        application.sync_subscriptions()
        assert [s.template for s in all_subscriptions(application.store)] == [Template(header="Evening")]
    finally:
        application.close()


def test_command_line_template_options():
    assert template_from_options(["fields=outlet,summary", "header=Morning brief"]) == Template(
        frozenset({"outlet", "summary"}), "Morning brief"
    )
    for bad in ("colour=red", "fields", "header=", "fields=colour"):
        with pytest.raises(TemplateError):
            template_from_options([bad])


# --- the outbox JSON -------------------------------------------------------------------


def digest(template: Template = Template(), title: str = "Japan–South Korea") -> Digest:
    lead = DigestStory("Seoul ends GSOMIA", "Wire", "https://wire.example/1", WHEN, "Seoul said it would end the pact.")
    other = DigestStory("Pact ends", "Courier", "https://courier.example/2", WHEN)
    return Digest(title, (DigestEvent(7, lead, (other,)),), WHEN, template=template)


def test_the_template_survives_the_outbox_and_older_rows_read_as_the_default():
    chosen = Template(frozenset({"outlet", "summary"}), "Morning brief")
    assert digest_from_json(digest_to_json(digest(chosen))) == digest(chosen)
    old = json.loads(digest_to_json(digest()))
    del old["template"]
    for event in old["events"]:
        event["headline"].pop("summary", None)
    restored = digest_from_json(json.dumps(old))
    assert restored.template == Template() and restored.events[0].headline.summary == ""


# --- rendering, field by field -------------------------------------------------------

ALL = frozenset(TEMPLATE_FIELDS)


def without(name: str) -> Template:
    return Template(ALL - {name})


def console(template: Template) -> str:
    return render_text(digest(template))


def slack(template: Template) -> str:
    return render_blocks(digest(template))[0]["blocks"][1]["text"]["text"]


def discord_embed(template: Template) -> dict:
    return render_embeds(digest(template))[0].embeds[0].to_dict()


def test_the_default_template_renders_as_before():
    assert Template().fields == DEFAULT_FIELDS and "summary" not in DEFAULT_FIELDS
    assert console(Template()) == (
        "== Japan–South Korea: 1 new event ==\n\n[event 7] Seoul ends GSOMIA\n    Wire · 22 Aug 2019 10:00 UTC\n"
        "    https://wire.example/1\n    +1 more source: Courier"
    )
    assert slack(Template()) == (
        "*<https://wire.example/1|Seoul ends GSOMIA>*\nWire · 22 Aug 2019 10:00 UTC\n+1 more source: Courier"
    )


@pytest.mark.parametrize(
    "name,shown",
    [
        ("outlet", "Wire ·"),
        ("time", "22 Aug 2019 10:00 UTC"),
        ("link", "https://wire.example/1"),
        ("sources", "+1 more source: Courier"),
        ("summary", "Seoul said it would end the pact."),
    ],
)
def test_each_field_on_and_off_on_every_adapter(name, shown):
    assert shown in console(Template(ALL)) and shown not in console(without(name))
    assert shown in slack(Template(ALL)) and shown not in slack(without(name))
    embed_on, embed_off = discord_embed(Template(ALL)), discord_embed(without(name))
    if name == "link":
        assert embed_on["url"] == "https://wire.example/1" and "url" not in embed_off
    else:
        assert shown in embed_on["description"] and shown not in embed_off.get("description", "")
    if name == "time":
        assert "timestamp" in embed_on and "timestamp" not in embed_off


def test_only_the_title_when_every_field_is_hidden():
    bare = Template(frozenset())
    assert console(bare).splitlines()[-1] == "[event 7] Seoul ends GSOMIA"
    assert slack(bare) == "*Seoul ends GSOMIA*"
    assert "description" not in discord_embed(bare)


@pytest.mark.parametrize("header", [*HOSTILE, " ".join(HOSTILE)])
def test_a_hostile_header_is_inert_on_every_adapter(header):
    template = Template(header=parse_header(header))
    text = console(template)
    assert text.splitlines()[0] == f"== {header}: 1 new event =="  # one line, as typed (a terminal has no markup)

    payload = render_blocks(digest(template))[0]
    shown = payload["blocks"][0]["text"]["text"]
    assert payload["blocks"][0]["text"]["type"] == "plain_text"
    assert "<" not in shown and ">" not in shown  # no <!channel>, no <url|label> link
    assert "<" not in payload["text"] and "*" not in payload["text"]  # the mrkdwn fallback: no bold either
    assert "&lt;" in shown or "<" not in header

    content = render_embeds(digest(template))[0].content
    assert "@everyone" not in content and "<!" not in content and "<http" not in content
    assert "\\*bold\\*" in content or "*bold*" not in header


def test_a_template_set_from_chat_shapes_the_queued_digest(app):
    app.processor.clock = lambda: WHEN
    run(app, "subscribe")
    run(app, "template set header Morning brief")
    run(app, "template set fields outlet,summary")
    item = FeedItem(
        feed="Wire",
        guid="pact",
        link="https://wire.example/pact",
        title="South Korea scraps GSOMIA intelligence pact with Japan",
        summary="Seoul said on Thursday it would end the pact. Tokyo called the move regrettable.",
        published=WHEN - timedelta(minutes=5),
        source="Wire",
    )
    with app.store.atomic():
        app.processor.process([item])
    [queued] = queue_digests(app.store, app.config, WHEN + timedelta(minutes=1))
    [row] = app.store.query("SELECT digest FROM outbox WHERE id = ?", (queued,))
    sent = digest_from_json(row["digest"])
    assert sent.heading == "Morning brief" and sent.template.fields == frozenset({"outlet", "summary"})
    assert sent.events[0].headline.summary == "Seoul said on Thursday it would end the pact."
    lines = render_text(sent).splitlines()
    assert lines[0] == "== Morning brief: 1 new event =="
    assert lines[3:] == ["    Wire", "    Seoul said on Thursday it would end the pact."]
