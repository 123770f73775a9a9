"""The command line end to end: demo, poll --once --json, seed, check-config, errors."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from botsvc.cli import cli

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "feeds.toml"


def run_cli(*args, env=None):
    result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    return result


def botsvc(*args, cwd, env=None):
    """The installed console entry point as a user runs it."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "botsvc", *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=120
    )


def json_lines(output):
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def test_demo_prints_a_digest_offline(tmp_path):
    proc = botsvc("demo", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "Seeded the archive with 5 reports" in out
    assert "new event" in out and "[event " in out
    assert "https://" in out
    assert "Traceback" not in proc.stderr
    assert (tmp_path / ".demo" / "botsvc-demo.db").exists()
    # A second demo starts fresh again and prints the same digest.
    again = botsvc("demo", cwd=tmp_path)
    assert again.returncode == 0 and again.stdout.count("[event ") == out.count("[event ")


def test_poll_json_twice_second_run_is_all_duplicate(tmp_path):
    db = str(tmp_path / "bot.db")
    first = run_cli("poll", "--once", "--json", "--db", db, "--config", str(EXAMPLES))
    assert first.exit_code == 0, first.output
    rows = json_lines(first.stdout)
    assert len(rows) == 57  # every item of the five sample feeds, in feed order
    required = {
        "feed",
        "guid",
        "link",
        "title",
        "published",
        "decision",
        "reason",
        "event_id",
        "duplicate_of",
        "matched_keywords",
    }
    assert all(required <= set(row) for row in rows)
    decisions = {row["decision"] for row in rows}
    assert decisions <= {"new", "duplicate", "irrelevant"} and "new" in decisions and "irrelevant" in decisions
    for row in rows:
        if row["decision"] == "new":
            assert row["matched_keywords"] and row["event_id"]
        if row["decision"] == "irrelevant":
            assert row["event_id"] is None and row["matched_keywords"] == []

    second = run_cli("poll", "--once", "--json", "--db", db, "--config", str(EXAMPLES))
    rows2 = json_lines(second.stdout)
    assert [r["guid"] for r in rows2] == [r["guid"] for r in rows]
    assert {r["decision"] for r in rows2} == {"duplicate"}

    # --json only inspects; the next delivering poll posts the events found, once.
    digest = run_cli("poll", "--once", "--db", db, "--config", str(EXAMPLES))
    assert digest.exit_code == 0
    assert digest.stdout.count("[event ") == len({r["event_id"] for r in rows if r["decision"] == "new"})
    again = run_cli("poll", "--once", "--db", db, "--config", str(EXAMPLES))
    assert again.exit_code == 0 and "[event " not in again.stdout  # nothing new: nothing posted


def test_poll_once_prints_digest_grouped_by_event(tmp_path):
    result = run_cli("poll", "--once", "--db", str(tmp_path / "d.db"), "--config", str(EXAMPLES))
    assert result.exit_code == 0
    assert "[event " in result.stdout
    assert "new, " in result.stderr and "duplicate" in result.stderr


def test_poll_given_a_configured_feed_file_polls_it_as_that_feed(tmp_path):
    feed = ROOT / "examples" / "feeds" / "seoul-wire.xml"
    result = run_cli("poll", "--once", "--json", "--db", str(tmp_path / "a.db"), "--config", str(EXAMPLES), str(feed))
    rows = json_lines(result.stdout)
    assert len(rows) == 12 and {r["feed"] for r in rows} == {"Seoul Wire"}
    assert any(r["decision"] == "new" for r in rows)


def test_poll_missing_feed_file_reports_and_fails(tmp_path):
    result = run_cli(
        "poll", "--once", "--db", str(tmp_path / "m.db"), "--config", str(EXAMPLES), str(tmp_path / "nope.xml")
    )
    assert result.exit_code == 1
    assert "nope.xml" in result.stderr


def test_env_vars_set_db_and_config(tmp_path):
    db = tmp_path / "env.db"
    result = run_cli("seed", env={"BOTSVC_DB": str(db), "BOTSVC_CONFIG": str(EXAMPLES)})
    assert result.exit_code == 0, result.output
    assert "seeded 5 article(s)" in result.stdout and db.exists()
    again = run_cli("seed", env={"BOTSVC_DB": str(db), "BOTSVC_CONFIG": str(EXAMPLES)})
    assert "already seeded" in again.stdout


def test_check_config_summarises(tmp_path):
    result = run_cli("check-config", "--config", str(EXAMPLES))
    assert result.exit_code == 0
    assert "OK" in result.stdout


BAD_CONFIGS = {
    "syntax": ("[defaults\n", "line 1"),
    "unknown": ("[defaults]\ncolour = 'red'\n", "defaults.colour"),
    "type": ("[[feeds]]\nname = 5\nurl = 'https://example.org/rss'\n", "feeds[0].name"),
    "url": ("[[feeds]]\nname = 'x'\nurl = 'ftp://example.org/rss'\n", "feeds[0].url"),
    "dupe": (
        "[[feeds]]\nname = 'x'\nurl = 'https://a.example/rss'\n[[feeds]]\nname = 'x'\nurl = 'https://b.example/rss'\n",
        "feeds[1].name",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_bad_config_exits_2_with_one_line(tmp_path, case):
    text, key = BAD_CONFIGS[case]
    topic = "\n[topics.t]\ntitle = 'T'\n[[topics.t.rules]]\nany = ['GSOMIA']\n"
    path = tmp_path / "bad.toml"
    path.write_text(text + (topic if case != "syntax" else ""))
    proc = botsvc("check-config", "--config", str(path), cwd=tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert str(path) in lines[0] and key in lines[0]
    assert "Traceback" not in proc.stderr
    # Same for a command that would open the database: nothing is created.
    proc = botsvc("poll", "--once", "--config", str(path), "--db", str(tmp_path / "x.db"), cwd=tmp_path)
    assert proc.returncode == 2 and not (tmp_path / "x.db").exists()


def test_missing_config_file_is_a_clear_error(tmp_path):
    proc = botsvc("check-config", "--config", str(tmp_path / "absent.toml"), cwd=tmp_path)
    assert proc.returncode == 2 and "absent.toml" in proc.stderr and "Traceback" not in proc.stderr


def test_unwritable_database_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = run_cli("seed", "--db", str(blocker / "sub" / "x.db"), "--config", str(EXAMPLES))
    assert result.exit_code == 1
    assert (
        result.stderr.strip()
        == f"botsvc: error: database {blocker}/sub/x.db: {blocker} is not a directory (check --db)"
    )


def test_poll_json_reports_near_duplicates_with_their_match(tmp_path):
    db = str(tmp_path / "bot.db")
    rows = json_lines(run_cli("poll", "--once", "--json", "--db", db, "--config", str(EXAMPLES)).stdout)
    near = [r for r in rows if r["decision"] == "duplicate" and r["reason"].startswith("similar to article")]
    assert near, "rewrites by other outlets should fold into events"
    for row in near:
        assert row["duplicate_of"] and 0 < row["similarity"] <= 1 and row["event_id"]
    assert len({r["event_id"] for r in rows if r["event_id"]}) < sum(r["decision"] != "irrelevant" for r in rows)


def test_explain_alerted_suppressed_irrelevant_and_unknown(tmp_path):
    db = str(tmp_path / "bot.db")
    rows = json_lines(run_cli("poll", "--once", "--json", "--db", db, "--config", str(EXAMPLES)).stdout)
    new = next(r for r in rows if r["decision"] == "new")
    near = next(r for r in rows if r["decision"] == "duplicate" and r["reason"].startswith("similar to"))
    skipped = next(r for r in rows if r["decision"] == "irrelevant")

    out = run_cli("explain", new["link"], "--db", db).stdout
    assert f"alerted: opened event {new['event_id']}" in out
    assert "matched keywords: " + ", ".join(new["matched_keywords"]) in out

    out = run_cli("explain", near["guid"], "--db", db).stdout
    assert f"near-duplicate of article {near['duplicate_of']}" in out
    assert "nearest archive articles when judged:" in out and f"article {near['duplicate_of']} " in out
    assert f"event {near['event_id']}:" in out

    out = run_cli("explain", skipped["guid"], "--db", db).stdout
    assert "irrelevant: no topic rule matched" in out

    unknown = run_cli("explain", "https://nowhere.example/none", "--db", db)
    assert unknown.exit_code == 1 and "no item with this link or GUID" in unknown.stderr


def test_explain_an_exact_repeat_names_the_original(tmp_path):
    db = str(tmp_path / "bot.db")
    rows = json_lines(run_cli("poll", "--once", "--json", "--db", db, "--config", str(EXAMPLES)).stdout)
    repeat = next(r for r in rows if r["decision"] == "duplicate" and r["reason"].startswith("same link"))
    out = run_cli("explain", repeat["guid"], "--db", db).stdout
    assert f"exact repeat of article {repeat['duplicate_of']} (same GUID, link" in out


def test_rebuild_events_with_a_new_threshold_keeps_every_article(tmp_path):
    db = str(tmp_path / "bot.db")
    run_cli("poll", "--once", "--json", "--db", db, "--config", str(EXAMPLES))
    strict = tmp_path / "strict.toml"
    strict.write_text(
        EXAMPLES.read_text()
        .replace("[defaults]", "[dedup]\nthreshold = 0.95\n\n[defaults]")
        .replace('url = "feeds/', f'url = "{EXAMPLES.parent}/feeds/')
    )
    result = run_cli("rebuild-events", "--db", db, "--config", str(strict))
    assert result.exit_code == 0, result.output
    assert "45 article(s) re-grouped" in result.stdout and "threshold 0.95" in result.stdout
    back = run_cli("rebuild-events", "--db", db, "--config", str(EXAMPLES))
    assert back.exit_code == 0 and "45 article(s) re-grouped" in back.stdout


def test_operator_commands_speak_cli_and_refuse_in_one_line(tmp_path):
    db = str(tmp_path / "o.db")
    assert run_cli("seed", "--db", db, "--config", str(EXAMPLES)).exit_code == 0
    missing = CliRunner().invoke(cli, ["event", "999", "--db", db, "--config", str(EXAMPLES)])
    assert missing.exit_code == 2 and missing.stdout == ""
    assert missing.stderr.startswith("botsvc: error: there is no event 999 — usage: botsvc event <id>")
    assert "/news" not in missing.stderr and len(missing.stderr.splitlines()) == 1
    found = CliRunner().invoke(cli, ["search", "gsomia", "--db", db, "--config", str(EXAMPLES)])
    assert "(details: botsvc event <id>)" in found.stdout

    # Non-ASCII digits pass str.isdigit() but not int(): a usage line, not an apology.
    for count in ("²", "٣"):
        odd = CliRunner().invoke(cli, ["recent", count, "--db", db, "--config", str(EXAMPLES)])
        assert odd.exit_code == 2 and "recent takes one number — usage: botsvc recent [n]" in odd.stderr
    assert CliRunner().invoke(cli, ["recent", "3", "--db", db, "--config", str(EXAMPLES)]).exit_code == 0


def test_backup_takes_config_and_names_a_missing_destination_directory(tmp_path):
    db = str(tmp_path / "b.db")
    assert run_cli("seed", "--db", db, "--config", str(EXAMPLES)).exit_code == 0
    copy = tmp_path / "copy.db"
    ok = CliRunner().invoke(cli, ["backup", str(copy), "--db", db, "--config", str(EXAMPLES)])
    assert ok.exit_code == 0 and copy.exists()
    nowhere = tmp_path / "no" / "such" / "x.db"
    bad = CliRunner().invoke(cli, ["backup", str(nowhere), "--db", db])
    assert bad.exit_code == 1
    assert bad.stderr.strip() == f"botsvc: error: {nowhere}: the destination directory {nowhere.parent} does not exist"


def test_every_command_is_found_where_the_lazy_group_looks_for_it():
    """botsvc imports a command's module only when it is used: the table must name every command."""
    import importlib
    import pkgutil

    import botsvc.cli
    from botsvc.cli.base import COMMAND_MODULES

    for module in pkgutil.iter_modules(botsvc.cli.__path__):
        importlib.import_module(f"botsvc.cli.{module.name}")
    assert sorted(cli.commands) == sorted(COMMAND_MODULES)
    for name, command in cli.commands.items():
        assert command.callback.__module__ == f"botsvc.cli.{COMMAND_MODULES[name]}", name


def test_poll_once_imports_only_what_polling_needs(tmp_path):
    """A cron ``botsvc poll --once`` loads no chat command core, web server or chat SDK it does not use
    (aiohttp is the feed client, so polling needs it)."""
    script = (
        "import sys\n"
        "from botsvc.cli import main\n"
        f"sys.argv = ['botsvc', 'poll', '--once', '--config', {str(EXAMPLES)!r}, '--db', 'p.db']\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "heavy = ('botsvc.chat.commands', 'botsvc.service.web', 'adapters.slack', 'adapters.discord',\n"
        "         'slack_bolt', 'discord')\n"
        "print('loaded:', [name for name in heavy if name in sys.modules])\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "loaded: []" in proc.stdout, proc.stdout
    assert "new event" in proc.stdout  # the digest was delivered (to the console)


def test_a_refused_web_setting_is_one_line_and_other_value_errors_are_not_swallowed(capsys):
    from botsvc.cli.base import guarded
    from botsvc.service.web import WebSettingsError

    def refused():
        raise WebSettingsError("BOTSVC_HTTP_PORT='x': expected a port number (0-65535)")

    with pytest.raises(SystemExit) as stopped:
        guarded(refused)()
    assert stopped.value.code == 2
    assert capsys.readouterr().err == "botsvc: error: BOTSVC_HTTP_PORT='x': expected a port number (0-65535)\n"

    def broken():
        raise ValueError("a bug")

    with pytest.raises(ValueError, match="a bug"):
        guarded(broken)()
