"""Load and validate ``feeds.toml``.

Every problem is reported as one line naming the file, the key and what is wrong
(:class:`ConfigError`); nothing else escapes :func:`load_config` for bad input.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from botsvc.deliver.alert_limits import AlertLimits
from botsvc.deliver.subscriptions import SubscriptionError, parse_mode, validate
from botsvc.deliver.templates import TemplateError, template_from_table
from botsvc.ingest.fetch import FetchPolicy
from botsvc.judge.clustering import DEFAULT_LEAD_HOURS, DEFAULT_SPAN_DAYS, DEFAULT_THRESHOLD
from botsvc.judge.concepts import use_lexicon
from botsvc.judge.local_concepts import deployment_lexicon
from botsvc.judge.terms import is_single_cjk_character
from botsvc.models import Template


class ConfigError(Exception):
    """A configuration problem: ``str(err)`` is ``"<file>: <key>: <problem>"``."""

    def __init__(self, file: str, key: str, problem: str) -> None:
        super().__init__(f"{file}: {key}: {problem}")
        self.file, self.key, self.problem = file, key, problem


@dataclass(frozen=True)
class Rule:
    any: tuple[str, ...] = ()
    """At least one must match (empty: no constraint)."""
    all: tuple[tuple[str, ...], ...] = ()
    """Every group must have at least one match."""
    none: tuple[str, ...] = ()
    """None may match."""


@dataclass(frozen=True)
class Topic:
    name: str
    title: str
    rules: tuple[Rule, ...]
    off_subject: tuple[str, ...] = ()
    """Headline terms of other subjects: such a headline without any rule's ``any`` term is not on topic."""
    structure: bool = False
    """Judge items the rules do not match by their structure (botsvc/judge/structure.py)."""


@dataclass(frozen=True)
class FeedConfig:
    name: str
    url: str
    interval: int
    language: str | None
    topics: tuple[str, ...]
    enabled: bool = True


@dataclass(frozen=True)
class DedupSettings:
    threshold: float = DEFAULT_THRESHOLD
    """Similarity (0..1, weighted containment) at or above which an item joins an existing event."""
    span_days: float = DEFAULT_SPAN_DAYS
    """An event takes new reports for this many days after its first report."""
    lead_hours: float = DEFAULT_LEAD_HOURS
    """An item may predate an event's first report by this many hours (clock and time-zone noise)."""


@dataclass(frozen=True)
class RetentionSettings:
    """``[retention]``: how long identity keys of items no longer in their feeds are kept."""

    irrelevant_days: float = 30.0
    """Keys of items judged irrelevant (nothing else of them is stored), after last seen, when no
    polled feed's body forgot them first (a tracked feed forgets them as they leave its body)."""
    seen_days: float = 90.0
    """A stored article's other keys (a GUID it was republished under, another link), after
    last seen. The article itself and the keys it was stored under are never pruned."""
    interval: int = 86400
    """Seconds between prunes by ``botsvc run`` (``poll --once`` prunes every time)."""


@dataclass(frozen=True)
class ChatSettings:
    """``[chat]``: which Slack workspaces and Discord servers may use the bot, and their limits."""

    slack_workspaces: tuple[str, ...] = ()
    """Slack team ids (``T…``, or an Enterprise Grid org's ``E…`` for an org-wide install) served;
    empty: the first workspace the bot is used from is adopted (remembered in the database)."""
    discord_servers: tuple[str, ...] = ()
    """Discord server (guild) ids served; empty: the first server is adopted, as for Slack."""
    max_feeds_per_tenant: int = 50
    """Feeds one workspace or server may add from chat (polled at once)."""
    max_reports_per_tenant: int = 200
    """"Not relevant" reports one workspace or server may make per 24 hours."""


@dataclass(frozen=True)
class SubscriptionConfig:
    """A ``[[subscriptions]]`` entry: stored at start-up like ``botsvc subscribe`` does."""

    platform: str
    channel: str
    topic: str
    mode: str = "realtime"
    workspace: str = ""
    template: Template | None = None
    """``template = {header = "…", fields = [...]}``, validated; None: the file says nothing."""


@dataclass(frozen=True)
class Config:
    path: str
    feeds: tuple[FeedConfig, ...]
    topics: tuple[Topic, ...]
    default_topic: str
    fetch: FetchPolicy = field(default_factory=FetchPolicy)
    """The ``[fetch]`` table: timeouts, size cap, redirects, concurrency, User-Agent."""
    subscriptions: tuple[SubscriptionConfig, ...] = ()
    slack_managers: tuple[str, ...] | None = None
    """``[slack] managers``: Slack user ids allowed to subscribe channels and manage feeds
    besides the workspace's admins and owners; None (the default, or ``"admins"``): admins only."""
    slack_managers_only: bool = False
    """``[slack] managers_only = true``: only the listed users manage, not the admins too."""
    dedup: DedupSettings = field(default_factory=DedupSettings)
    alerts: AlertLimits = field(default_factory=AlertLimits)
    """The ``[alerts]`` table: backfill age, caps per feed and per digest, surge detection."""
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    concepts_file: str = ""
    """The deployment's ``concepts.local.toml`` beside this file, when there is one (read by :func:`load_config`)."""
    local_concepts: int = 0
    """How many concepts that file adds or replaces."""
    chat: ChatSettings = field(default_factory=ChatSettings)
    """The ``[chat]`` table: tenants served and their limits."""

    def topic(self, name: str) -> Topic:
        for topic in self.topics:
            if topic.name == name:
                return topic
        raise KeyError(name)


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
MIN_INTERVAL = 60
_TYPE_NAMES = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "true or false",
    list: "a list",
    dict: "a table",
}


def parse_duration(value: int | str) -> int:
    """Seconds from ``900``, ``"90s"``, ``"15m"``, ``"1h"`` or ``"1d"``."""
    if isinstance(value, bool):
        raise ValueError("expected seconds or a duration like '15m'")
    if isinstance(value, int):
        if value <= 0:
            raise ValueError("must be positive")
        return value
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(f"not a duration: {value!r} (use seconds or e.g. '90s', '15m', '1h', '1d')")
    seconds = int(float(match.group(1)) * _UNITS[match.group(2)])
    if seconds <= 0:
        raise ValueError("must be positive")
    return seconds


def _type_name(value: Any) -> str:
    return {bool: "boolean", int: "integer", float: "float", str: "string", list: "array", dict: "table"}.get(
        type(value), type(value).__name__
    )


class _Reader:
    """Walks the parsed TOML, raising ConfigError with dotted keys."""

    def __init__(self, file: str, base: Path) -> None:
        self.file, self.base = file, base

    def fail(self, key: str, problem: str) -> ConfigError:
        return ConfigError(self.file, key, problem)

    def table(self, value: Any, key: str, allowed: set[str]) -> dict:
        if not isinstance(value, dict):
            raise self.fail(key, f"expected a table, got {_type_name(value)}")
        for name in value:
            if name not in allowed:
                where = f"{key}.{name}" if key else name
                raise self.fail(where, f"unknown key (allowed: {', '.join(sorted(allowed))})")
        return value

    def typed(self, value: Any, key: str, kind: type | tuple[type, ...]) -> Any:
        kinds = kind if isinstance(kind, tuple) else (kind,)
        ok = isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)
        if not ok:
            wanted = " or ".join(_TYPE_NAMES.get(k, k.__name__) for k in kinds)
            raise self.fail(key, f"expected {wanted}, got {_type_name(value)}")
        return value

    def text(self, value: Any, key: str) -> str:
        text = self.typed(value, key, str).strip()
        if not text:
            raise self.fail(key, "must not be empty")
        return text

    def terms(self, value: Any, key: str) -> tuple[str, ...]:
        """A list of terms, or a table of per-language lists (flattened)."""
        if isinstance(value, dict):
            found: list[str] = []
            for lang, items in value.items():
                found.extend(self.terms(items, f"{key}.{lang}"))
            return tuple(found)
        items = self.typed(value, key, list)
        return tuple(self.text(item, f"{key}[{i}]") for i, item in enumerate(items))

    def duration(self, value: Any, key: str) -> int:
        try:
            return parse_duration(self.typed(value, key, (int, str)))
        except ValueError as exc:
            raise self.fail(key, str(exc)) from None

    def number(
        self,
        value: Any,
        key: str,
        *,
        integer: bool = False,
        low: float = 0,
        high: float | None = None,
        low_inclusive: bool = True,
    ) -> float:
        number = self.typed(value, key, int if integer else (int, float))
        if number < low or (not low_inclusive and number == low) or (high is not None and number > high):
            bound = (
                f"between {low} and {high}"
                if high is not None
                else (f"at least {low}" if low_inclusive else f"greater than {low}")
            )
            raise self.fail(key, f"must be {bound}, got {number}")
        return number

    def location(self, value: Any, key: str) -> str:
        url = self.text(value, key)
        parts = urlsplit(url)
        if parts.scheme in ("http", "https"):
            if not parts.hostname:
                raise self.fail(key, f"URL has no host: {url!r}")
            return url
        if parts.scheme == "file":
            return str(Path(parts.path))
        if parts.scheme and len(parts.scheme) > 1:
            raise self.fail(key, f"not an http(s) URL or file path: {url!r}")
        path = Path(url).expanduser()
        return str(path if path.is_absolute() else (self.base / path).resolve())


def _rule(reader: _Reader, raw: Any, key: str) -> Rule:
    table = reader.table(raw, key, {"any", "all", "none"})
    any_terms = reader.terms(table.get("any", []), f"{key}.any")
    groups_raw = reader.typed(table.get("all", []), f"{key}.all", list)
    groups = tuple(g for g in (reader.terms(g, f"{key}.all[{i}]") for i, g in enumerate(groups_raw)))
    for i, group in enumerate(groups):
        if not group:
            raise reader.fail(f"{key}.all[{i}]", "an empty group can never match")
    none_terms = reader.terms(table.get("none", []), f"{key}.none")
    if not any_terms and not groups:
        raise reader.fail(key, "a rule needs `any` or `all` terms")
    return Rule(any=any_terms, all=groups, none=none_terms)


def _refuse_single_characters(reader: _Reader, key: str, rules: tuple[Rule, ...], extra: tuple[str, ...]) -> None:
    """A lone Han, kana or Hangul character (日, 韓) is not a word: it matches inside unrelated ones."""
    for i, rule in enumerate(rules):
        for term in (*rule.any, *rule.none, *(t for group in rule.all for t in group), *extra):
            if is_single_cjk_character(term):
                raise reader.fail(
                    f"{key}.rules[{i}]",
                    f"{term!r} is a single character; list whole words (e.g. 日本, 韓国, 한국) instead",
                )


def _topics(reader: _Reader, raw: Any) -> tuple[Topic, ...]:
    table = reader.typed(raw, "topics", dict)
    topics = []
    for name, body in table.items():
        key = f"topics.{name}"
        body = reader.table(body, key, {"title", "rules", "off_subject", "structure"})
        rules_raw = reader.typed(body.get("rules", []), f"{key}.rules", list)
        if not rules_raw:
            raise reader.fail(f"{key}.rules", "a topic needs at least one rule")
        rules = tuple(_rule(reader, r, f"{key}.rules[{i}]") for i, r in enumerate(rules_raw))
        title = reader.text(body["title"], f"{key}.title") if "title" in body else name
        off = reader.table(body.get("off_subject", {}), f"{key}.off_subject", {"headline"})
        off_subject = reader.terms(off.get("headline", []), f"{key}.off_subject.headline")
        _refuse_single_characters(reader, key, rules, off_subject)
        structure = reader.typed(body.get("structure", False), f"{key}.structure", bool)
        topics.append(Topic(name=name, title=title, rules=rules, off_subject=off_subject, structure=structure))
    if not topics:
        raise reader.fail("topics", "define at least one topic")
    return tuple(topics)


_RENAMED = {"dedup.window_days": "span_days (days after an event's first report; default 3)"}


def _settings(reader: _Reader, raw: Any, key: str, cls: type) -> Any:
    names = {f.name: f for f in fields(cls)}
    for name in raw if isinstance(raw, dict) else ():
        if f"{key}.{name}" in _RENAMED:
            raise reader.fail(
                f"{key}.{name}", f"replaced by {_RENAMED[f'{key}.{name}']}; then run `botsvc rebuild-events`"
            )
    table = reader.table(raw, key, set(names))
    values: dict[str, Any] = {}
    for name, value in table.items():
        default = getattr(cls(), name)
        where = f"{key}.{name}"
        if name == "user_agent":
            values[name] = reader.text(value, where)
        elif name == "backfill_max_age":
            try:
                values[name] = None if value in ("off", False) else reader.duration(value, where)
            except ConfigError as exc:
                raise reader.fail(where, f'{exc.problem}, or "off" to alert old items too') from None
        elif name == "interval":
            values[name] = reader.duration(value, where)
        elif name == "threshold":
            values[name] = float(reader.number(value, where, high=1.0))
        elif isinstance(default, int) and not isinstance(default, bool):
            values[name] = int(reader.number(value, where, integer=True, low=1))
        else:
            values[name] = float(reader.number(value, where, low=0, low_inclusive=False))
    return cls(**values)


def _chat(reader: _Reader, raw: Any) -> ChatSettings:
    """``[chat]``: lists of ids (each a non-empty string without spaces) and two positive limits."""
    table = reader.table(raw, "chat", {f.name for f in fields(ChatSettings)})
    values: dict[str, Any] = {}
    for name in ("slack_workspaces", "discord_servers"):
        if name in table:
            ids = reader.terms(reader.typed(table[name], f"chat.{name}", list), f"chat.{name}")
            for i, value in enumerate(ids):
                if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", value):
                    raise reader.fail(
                        f"chat.{name}[{i}]", f"expected an id such as T0123ABCD or 1234567890, got {value!r}"
                    )
            values[name] = ids
    for name in ("max_feeds_per_tenant", "max_reports_per_tenant"):
        if name in table:
            values[name] = int(reader.number(table[name], f"chat.{name}", integer=True, low=1))
    return ChatSettings(**values)


def _template(reader: _Reader, raw: Any, key: str) -> Template:
    """A subscription's template table; a problem names the key inside it (``….template.header``)."""
    table = reader.table(raw, key, {"header", "fields"})
    try:
        return template_from_table(table)
    except TemplateError as exc:
        inner, _, problem = str(exc).partition(": ")
        raise reader.fail(f"{key}.{inner}", problem) from None


def parse_config(text: str, path: str = "feeds.toml") -> Config:
    """Validate TOML ``text`` read from ``path`` (used for messages and relative feed paths)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        where = re.search(r"\(at (line \d+, column \d+)\)", message)
        problem = re.sub(r"\s*\(at [^)]*\)", "", message)
        raise ConfigError(path, where.group(1) if where else "syntax", f"invalid TOML: {problem}") from None
    reader = _Reader(path, Path(path).resolve().parent)
    reader.table(
        data,
        "",
        {"defaults", "fetch", "dedup", "alerts", "retention", "feeds", "topics", "subscriptions", "slack", "chat"},
    )
    defaults = reader.table(data.get("defaults", {}), "defaults", {"interval", "language", "topic"})
    default_interval = reader.duration(defaults.get("interval", "15m"), "defaults.interval")
    default_language = reader.text(defaults["language"], "defaults.language") if "language" in defaults else None
    if "topics" not in data:
        raise reader.fail("topics", "define at least one topic")
    topics = _topics(reader, data["topics"])
    names = [t.name for t in topics]
    default_topic = reader.text(defaults["topic"], "defaults.topic") if "topic" in defaults else names[0]
    if default_topic not in names:
        raise reader.fail("defaults.topic", f"unknown topic {default_topic!r} (defined: {', '.join(names)})")

    feeds: list[FeedConfig] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(reader.typed(data.get("feeds", []), "feeds", list)):
        key = f"feeds[{i}]"
        table = reader.table(raw, key, {"name", "url", "interval", "language", "topics", "enabled"})
        for required in ("name", "url"):
            if required not in table:
                raise reader.fail(f"{key}.{required}", "missing (every feed needs a name and a url)")
        name = reader.text(table["name"], f"{key}.name")
        if name in seen:
            raise reader.fail(f"{key}.name", f"duplicate feed name {name!r} (also feeds[{seen[name]}])")
        seen[name] = i
        url = reader.location(table["url"], f"{key}.url")
        interval = reader.duration(table["interval"], f"{key}.interval") if "interval" in table else default_interval
        if url.startswith(("http://", "https://")) and interval < MIN_INTERVAL:
            raise reader.fail(f"{key}.interval", f"must be at least {MIN_INTERVAL}s for web feeds, got {interval}s")
        feed_topics = reader.terms(table.get("topics", []), f"{key}.topics")
        for t, topic in enumerate(feed_topics):
            if topic not in names:
                raise reader.fail(f"{key}.topics[{t}]", f"unknown topic {topic!r} (defined: {', '.join(names)})")
        language = reader.text(table["language"], f"{key}.language") if "language" in table else default_language
        enabled = reader.typed(table.get("enabled", True), f"{key}.enabled", bool)
        feeds.append(
            FeedConfig(name=name, url=url, interval=interval, language=language, topics=feed_topics, enabled=enabled)
        )

    subscriptions = []
    for i, raw in enumerate(reader.typed(data.get("subscriptions", []), "subscriptions", list)):
        key = f"subscriptions[{i}]"
        table = reader.table(raw, key, {"platform", "channel", "topic", "mode", "workspace", "template"})
        for required in ("platform", "channel"):
            if required not in table:
                raise reader.fail(f"{key}.{required}", "missing (every subscription needs a platform and a channel)")
        entry = SubscriptionConfig(
            platform=reader.text(table["platform"], f"{key}.platform"),
            channel=reader.text(table["channel"], f"{key}.channel"),
            topic=reader.text(table.get("topic", default_topic), f"{key}.topic"),
            mode=reader.text(table.get("mode", "realtime"), f"{key}.mode"),
            workspace=reader.text(table["workspace"], f"{key}.workspace") if "workspace" in table else "",
            template=_template(reader, table["template"], f"{key}.template") if "template" in table else None,
        )
        try:
            validate(entry.platform, entry.channel, entry.topic, names)
            parse_mode(entry.mode)
        except SubscriptionError as exc:
            raise reader.fail(key, str(exc)) from None
        subscriptions.append(entry)

    slack = reader.table(data.get("slack", {}), "slack", {"managers", "managers_only"})
    managers = slack.get("managers", "admins")
    if managers == "admins":
        slack_managers = None
    elif isinstance(managers, list) and managers:
        slack_managers = reader.terms(managers, "slack.managers")
    else:
        raise reader.fail("slack.managers", 'expected "admins" or a list of Slack user ids such as ["U0123ABCD"]')
    managers_only = reader.typed(slack.get("managers_only", False), "slack.managers_only", bool)
    if managers_only and slack_managers is None:
        raise reader.fail("slack.managers_only", "needs a list of user ids in managers (nobody could manage)")

    return Config(
        path=path,
        feeds=tuple(feeds),
        topics=topics,
        default_topic=default_topic,
        subscriptions=tuple(subscriptions),
        slack_managers=slack_managers,
        slack_managers_only=managers_only,
        fetch=_settings(reader, data.get("fetch", {}), "fetch", FetchPolicy),
        dedup=_settings(reader, data.get("dedup", {}), "dedup", DedupSettings),
        alerts=_settings(reader, data.get("alerts", {}), "alerts", AlertLimits),
        retention=_settings(reader, data.get("retention", {}), "retention", RetentionSettings),
        chat=_chat(reader, data.get("chat", {})),
    )


def load_config(path: str | os.PathLike) -> Config:
    """Read and validate the configuration file at ``path``."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(name, "file", "not found (set --config or BOTSVC_CONFIG)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(name, "file", f"cannot read: {exc}") from None
    config = parse_config(text, name)
    return _with_local_concepts(config)


def _with_local_concepts(config: Config) -> Config:
    """Read ``concepts.local.toml`` beside the config and judge with it from now on.

    The lexicon is process-wide (every fingerprint uses it), so the one reader of the
    configuration installs it; a bad file is a configuration error in one line.
    """
    try:
        found = deployment_lexicon(config.path)
    except ValueError as exc:
        file, _, rest = str(exc).partition(": ")
        key, problem = ("file", rest)
        if rest.startswith("[") and "] " in rest:
            key, problem = rest[1:].split("] ", 1)
        raise ConfigError(file, key, problem) from None
    if found is None:
        use_lexicon(None)
        return config
    lexicon, path, count = found
    use_lexicon(lexicon)
    return replace(config, concepts_file=str(path), local_concepts=count)


def missing_feed_files(config: Config) -> list[str]:
    """One phrase per enabled feed read from disk whose file is not there (``check-config``).

    The config only checks a path's form; a missing file would otherwise show up as a
    failed poll only once the bot runs.
    """
    problems = []
    for feed in config.feeds:
        if not feed.enabled or urlsplit(feed.url).scheme in ("http", "https"):
            continue
        path = Path(feed.url)
        if path.is_dir():
            problems.append(f"feed {feed.name!r}: {path} is a directory, not a feed file")
        elif not path.is_file():
            problems.append(f"feed {feed.name!r}: no such file {path}")
    return problems


def summarise(config: Config) -> str:
    """A human summary for ``botsvc check-config``."""
    lines = [f"{len(config.feeds)} feed(s):"]
    for feed in config.feeds:
        state = "" if feed.enabled else " (disabled)"
        topics = f" topics={','.join(feed.topics)}" if feed.topics else ""
        lines.append(f"  - {feed.name}: every {feed.interval}s{topics}{state}\n      {feed.url}")
    lines.append(f"{len(config.topics)} topic(s) (default: {config.default_topic}):")
    for topic in config.topics:
        terms = {t for r in topic.rules for t in (*r.any, *r.none, *(x for g in r.all for x in g))}
        structure = ", then its structure" if topic.structure else ""
        lines.append(
            f'  - {topic.name} "{topic.title}": {len(topic.rules)} rule(s), {len(terms)} keyword(s){structure}'
        )
    f, d = config.fetch, config.dedup
    lines.append(
        f"fetch: timeouts {f.connect_timeout}s connect / {f.read_timeout}s read / {f.total_deadline}s total, "
        f"max {f.max_bytes} bytes, {f.max_redirects} redirects, {f.concurrency} at once"
    )
    lines.append(f"dedup: threshold {d.threshold}, span {d.span_days} days, lead {d.lead_hours} hours")
    a = config.alerts
    backfill = f"older than {a.backfill_max_age}s" if a.backfill_max_age is not None else "none (off)"
    lines.append(
        f"alerts: at most {a.max_per_feed} per feed per poll, {a.max_per_digest} per digest; "
        f"first poll of a feed archives items {backfill}; surge at {a.surge_factor}x usual "
        f"and over {a.surge_min_items} new items"
    )
    r = config.retention
    lines.append(
        f"retention: irrelevant items' keys {r.irrelevant_days} days, articles' other keys "
        f"{r.seen_days} days after last seen; pruned every {r.interval}s"
    )
    if config.concepts_file:
        lines.append(
            f"concepts: the shipped lexicon with {config.local_concepts} local concept(s) from {config.concepts_file}"
        )
    c = config.chat
    lines.append(
        f"chat: Slack workspaces {', '.join(c.slack_workspaces) or '(the first one used)'}; "
        f"Discord servers {', '.join(c.discord_servers) or '(the first one used)'}; each may add "
        f"{c.max_feeds_per_tenant} feeds and make {c.max_reports_per_tenant} not-relevant reports a day"
    )
    return "\n".join(lines)
