"""feeds.toml parsing and validation."""

from pathlib import Path

import pytest

from botsvc.config import ConfigError, load_config, parse_config, parse_duration

ROOT = Path(__file__).resolve().parents[1]
TOPIC = "\n[topics.t]\ntitle = 'T'\n[[topics.t.rules]]\nany = ['GSOMIA']\n"


def test_shipped_configs_load_and_share_one_topic_definition():
    shipped = load_config(ROOT / "feeds.toml")
    demo = load_config(ROOT / "examples" / "feeds.toml")
    assert shipped.feeds and all(f.url.startswith("https://") for f in shipped.feeds)
    assert shipped.topics == demo.topics
    assert shipped.default_topic == "japan-korea"
    assert all(Path(f.url).is_file() for f in demo.feeds)


@pytest.mark.parametrize(
    "value,seconds", [(900, 900), ("90s", 90), ("15m", 900), ("1h", 3600), ("1d", 86400), ("2", 2)]
)
def test_durations(value, seconds):
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["soon", "-5m", 0, True, "5 minutes"])
def test_bad_durations(value):
    with pytest.raises(ValueError):
        parse_duration(value)


def test_relative_feed_paths_resolve_against_config_dir(tmp_path):
    config = parse_config("[[feeds]]\nname='a'\nurl='feeds/x.xml'\n" + TOPIC, str(tmp_path / "c.toml"))
    assert config.feeds[0].url == str(tmp_path / "feeds" / "x.xml")


def test_per_language_term_tables_are_flattened():
    text = (
        "[topics.t]\n[[topics.t.rules]]\nany = { en = ['GSOMIA'], ko = ['지소미아'] }\n"
        "all = [{ en = ['Japan'], ja = ['日本'] }]\n"
    )
    rule = parse_config(text).topics[0].rules[0]
    assert rule.any == ("GSOMIA", "지소미아") and rule.all == (("Japan", "日本"),)


def test_defaults_apply_to_feeds():
    config = parse_config(
        "[defaults]\ninterval='5m'\nlanguage='ko'\n[[feeds]]\nname='a'\nurl='https://x.org/r'\n" + TOPIC
    )
    assert config.feeds[0].interval == 300 and config.feeds[0].language == "ko"
    assert config.dedup.threshold == 0.2 and config.dedup.span_days == 3.5 and config.fetch.max_redirects == 5


BAD = [
    ("[defaults\n", "line 1, column 10", "invalid TOML"),
    ("[defaults]\ncolour = 'red'\n" + TOPIC, "defaults.colour", "unknown key"),
    ("surprise = 1\n" + TOPIC, "surprise", "unknown key"),
    ("[[feeds]]\nname = 5\nurl = 'https://x.org/r'\n" + TOPIC, "feeds[0].name", "expected a string, got integer"),
    ("[[feeds]]\nname = 'a'\nurl = 'ftp://x.org/r'\n" + TOPIC, "feeds[0].url", "not an http(s) URL"),
    ("[[feeds]]\nname = 'a'\nurl = 'https:///r'\n" + TOPIC, "feeds[0].url", "no host"),
    ("[[feeds]]\nname = 'a'\nurl = ''\n" + TOPIC, "feeds[0].url", "must not be empty"),
    ("[[feeds]]\nname = 'a'\n" + TOPIC, "feeds[0].url", "missing"),
    (
        "[[feeds]]\nname='a'\nurl='https://x.org/1'\n[[feeds]]\nname='a'\nurl='https://x.org/2'\n" + TOPIC,
        "feeds[1].name",
        "duplicate feed name 'a' (also feeds[0])",
    ),
    ("[[feeds]]\nname='a'\nurl='https://x.org/1'\ninterval=5\n" + TOPIC, "feeds[0].interval", "at least 60s"),
    ("[[feeds]]\nname='a'\nurl='https://x.org/1'\ntopics=['nope']\n" + TOPIC, "feeds[0].topics[0]", "unknown topic"),
    ("[defaults]\ntopic='nope'\n" + TOPIC, "defaults.topic", "unknown topic"),
    ("[defaults]\n", "topics", "at least one topic"),
    ("[topics.t]\n[[topics.t.rules]]\nnone=['x']\n", "topics.t.rules[0]", "needs `any` or `all`"),
    ("[dedup]\nthreshold = 1.5\n" + TOPIC, "dedup.threshold", "between 0"),
    ("[fetch]\nmax_bytes = -1\n" + TOPIC, "fetch.max_bytes", "at least 1"),
    ("[fetch]\ntimeout = 3\n" + TOPIC, "fetch.timeout", "unknown key"),
]


@pytest.mark.parametrize("text,key,problem", BAD, ids=[b[1] for b in BAD])
def test_bad_config_names_file_key_and_problem(text, key, problem):
    with pytest.raises(ConfigError) as err:
        parse_config(text, "my.toml")
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"my.toml: {key}: "), message
    assert problem in message


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="absent.toml: file: not found"):
        load_config(tmp_path / "absent.toml")


def test_slack_managers_default_to_admins_or_a_list_of_user_ids():
    base = "[[feeds]]\nname='a'\nurl='https://x.org/r'\n" + TOPIC
    assert parse_config(base).slack_managers is None
    assert parse_config('[slack]\nmanagers = "admins"\n' + base).slack_managers is None
    assert parse_config('[slack]\nmanagers = ["U1", "U2"]\n' + base).slack_managers == ("U1", "U2")
    with pytest.raises(ConfigError, match="slack.managers"):
        parse_config('[slack]\nmanagers = "everyone"\n' + base)
    assert parse_config('[slack]\nmanagers = ["U1"]\n' + base).slack_managers_only is False
    assert parse_config('[slack]\nmanagers = ["U1"]\nmanagers_only = true\n' + base).slack_managers_only is True
    with pytest.raises(ConfigError, match="slack.managers_only"):
        parse_config("[slack]\nmanagers_only = true\n" + base)
    with pytest.raises(ConfigError, match="slack.managers_only"):
        parse_config('[slack]\nmanagers = ["U1"]\nmanagers_only = "yes"\n' + base)
