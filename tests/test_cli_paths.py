"""A database path or a feed file that cannot be: one line and a non-zero status, nothing made."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from botsvc.cli import cli

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "feeds.toml"


@pytest.mark.parametrize("command", [["poll", "--once"], ["run"], ["seed"], ["demo"]])
@pytest.mark.parametrize(
    "db, expected",
    [
        ("feeds.toml/x.db", "database feeds.toml/x.db: feeds.toml is not a directory (check --db)"),
        (
            "missing/dir/x.db",
            "database missing/dir/x.db: the directory missing/dir does not exist; create it first (or check --db)",
        ),
        ("/proc/x.db", None),
    ],
)
def test_an_impossible_database_path_is_one_line_and_makes_no_folders(tmp_path, monkeypatch, command, db, expected):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "feeds.toml").write_text(EXAMPLES.read_text())
    result = CliRunner().invoke(cli, [*command, "--db", db, "--config", str(EXAMPLES)])
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    [line] = result.stderr.strip().splitlines()
    assert (
        line.startswith("botsvc: error: ") and "/proc/x.db" in line
        if expected is None
        else line == (f"botsvc: error: {expected}")
    )
    assert not (tmp_path / "missing").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["feeds.toml"]


def test_demo_still_makes_its_own_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["demo"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / ".demo" / "botsvc-demo.db").is_file()


def test_check_config_refuses_a_feed_whose_file_is_missing(tmp_path):
    config = tmp_path / "feeds.toml"
    config.write_text(
        EXAMPLES.read_text()
        .replace('url = "feeds/seoul-wire.xml"', 'url = "feeds/seoul-wire.xml"\nenabled = false')
        .replace('url = "feeds/pacific-desk.xml"', f'url = "{ROOT}/examples/feeds/pacific-desk.xml"')
        .replace('url = "feeds/tokyo-ledger.xml"', f'url = "{ROOT}/examples/feeds/tokyo-ledger.xml"')
        .replace('url = "feeds/east-asia-brief.xml"', f'url = "{ROOT}/examples/feeds/east-asia-brief.xml"')
    )
    result = CliRunner().invoke(cli, ["check-config", "--config", str(config)])
    assert result.exit_code == 2
    # Seoul Wire is disabled (not polled, not checked); Morning Dispatch's file is not beside this config.
    assert result.stderr.strip() == (
        f"botsvc: error: {config}: feed 'Morning Dispatch': no such file {tmp_path}/feeds/morning-dispatch.xml"
    )
    assert f"{config}: OK" not in result.stdout
    (tmp_path / "feeds").mkdir()
    (tmp_path / "feeds" / "morning-dispatch.xml").mkdir()
    directory = CliRunner().invoke(cli, ["check-config", "--config", str(config)])
    assert directory.exit_code == 2 and "is a directory, not a feed file" in directory.stderr
    ok = CliRunner().invoke(cli, ["check-config", "--config", str(EXAMPLES)])
    assert ok.exit_code == 0 and ok.stdout.strip().endswith(f"{EXAMPLES}: OK")
