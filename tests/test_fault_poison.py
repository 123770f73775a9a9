"""benchmarks/fault_poison.py: a poison message among 100 good ones blocks none."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_a_poison_message_among_100_good_ones_blocks_none():
    spec = importlib.util.spec_from_file_location("fault_poison", ROOT / "benchmarks" / "fault_poison.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    figures = module.run_poison()
    assert figures["poison: good messages"] == 100 and figures["poison: delivered"] == 100
    assert figures["poison: failed permanently"] == 1 and figures["poison: blocked"] == 0
    assert figures["poison: tokens in logs"] == 0
