"""Command line: ``botsvc run | poll | seed | subscribe | search | status | backup | …``.

One module per command group; importing one registers its commands on :data:`cli`, which
imports it only when one of its commands is used (:data:`botsvc.cli.base.COMMAND_MODULES`).
"""

from __future__ import annotations

import importlib
from typing import Any

from botsvc.cli.base import cli

__all__ = ["cli", "examples_dir", "main", "outcome_json", "run_cycle"]


def __getattr__(name: str) -> Any:
    """``examples_dir``, ``outcome_json`` and ``run_cycle`` from :mod:`botsvc.cli.polling`, imported when asked for."""
    if name in ("examples_dir", "outcome_json", "run_cycle"):
        return getattr(importlib.import_module("botsvc.cli.polling"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    cli(prog_name="botsvc")
