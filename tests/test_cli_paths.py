"""A database path or a feed file that cannot be: one line and a non-zero status, nothing made."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from botsvc.cli import cli

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "feeds.toml"


def botsvc(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """The real entry point in a process of its own (``run`` installs signal handlers)."""
    return subprocess.run(
        [sys.executable, "-m", "botsvc", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


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
def test_an_impossible_database_path_is_one_line_and_makes_no_folders(tmp_path, command, db, expected):
    (tmp_path / "feeds.toml").write_text(EXAMPLES.read_text())
    result = botsvc(*command, "--db", db, "--config", str(EXAMPLES), cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert (
        line.startswith("botsvc: error: ") and "/proc/x.db" in line
        if expected is None
        else line == (f"botsvc: error: {expected}")
    )
    assert not (tmp_path / "missing").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["feeds.toml"]


def test_demo_still_makes_its_own_folder(tmp_path):
    result = botsvc("demo", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
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
