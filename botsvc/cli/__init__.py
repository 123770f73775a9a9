"""Command line: ``botsvc run | poll | seed | subscribe | search | status | backup | …``.

One module per command group; importing them registers their commands on :data:`cli`.
"""

from __future__ import annotations

from botsvc.cli import concepts, delivery, events, feeds, learning, ops, polling, worker  # noqa: F401  (registers the commands)
from botsvc.cli.base import cli
from botsvc.cli.polling import examples_dir, outcome_json, run_cycle

__all__ = ["cli", "examples_dir", "main", "outcome_json", "run_cycle"]


def main() -> None:
    cli(prog_name="botsvc")
