"""mypy (pinned in requirements.txt, configured in pyproject.toml) finds nothing in botsvc and adapters.

Annotations that nothing checks drift from the code; this keeps them honest in ``make test``.
A ``# type: ignore`` is for a third-party stub that is wrong, so each one names its error
code and says why (mypy itself reports one that no longer silences anything).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("botsvc", "adapters")


def test_mypy_finds_nothing():
    result = subprocess.run(
        [sys.executable, "-m", "mypy", *PACKAGES], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert "No module named mypy" not in result.stderr, "mypy from requirements.txt is not installed"
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_type_ignore_names_its_code_and_reason():
    ignore = re.compile(r"#\s*type:\s*ignore(?P<code>\[[\w\-, ]+\])?(?P<rest>.*)$")
    bare = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                found = ignore.search(line)
                if found and not (found["code"] and found["rest"].strip(" #")):
                    bare.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not bare, "a type: ignore needs [code] and a comment saying why:\n" + "\n".join(bare)
