"""The tree is the pipeline, and imports point down it: never back up, never into adapters."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: Stages in the order data flows; a module may import its own stage and earlier ones.
STAGES = ["ingest", "judge", "store", "deliver", "chat", "service", "cli"]
#: Shared by every stage: neutral models, the one reader of feeds.toml, clock helpers,
#: and the package root (its version string).
SHARED = {"botsvc", "botsvc.models", "botsvc.config", "botsvc.clocks"}


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Absolute module names imported by ``path`` (``from x import y`` counts as x, and x.y when y is a module)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
            found.update(
                f"{node.module}.{alias.name}"
                for alias in node.names
                if (ROOT / node.module.replace(".", "/") / f"{alias.name}.py").exists()
            )
    return found


def stage_of(name: str) -> str | None:
    parts = name.split(".")
    if name == "botsvc.__main__":  # ``python -m botsvc`` is the command line
        return "cli"
    if parts[0] != "botsvc" or len(parts) < 2:
        return None
    return parts[1] if parts[1] in STAGES else None


CORE = [(module_name(p), p) for p in modules("botsvc")]


@pytest.mark.parametrize("name,path", CORE, ids=[n for n, _ in CORE])
def test_imports_point_down_the_pipeline(name, path):
    own = stage_of(name)
    for target in imports(path):
        if not target.startswith("botsvc") or target in SHARED:
            continue
        theirs = stage_of(target)
        assert theirs is not None, f"{name} imports {target}, which belongs to no stage"
        if own is None:  # a shared module: only config may look into stages (for their settings types)
            assert name == "botsvc.config", f"shared module {name} imports stage module {target}"
            continue
        assert STAGES.index(theirs) <= STAGES.index(own), f"{name} ({own}) imports {target} from a later stage"


@pytest.mark.parametrize("name,path", CORE, ids=[n for n, _ in CORE])
def test_the_core_never_imports_a_chat_adapter_or_sdk(name, path):
    for target in imports(path):
        root = target.split(".")[0]
        assert root not in {"adapters", "discord", "slack_bolt", "slack_sdk"}, f"{name} imports {target}"


def test_ingest_uses_nothing_of_ours_but_itself_and_the_models():
    for path in modules("botsvc/ingest"):
        for target in imports(path):
            if target.startswith("botsvc"):
                assert target in {"botsvc", "botsvc.models"} or target.startswith("botsvc.ingest"), (
                    f"{module_name(path)} imports {target}"
                )


def test_every_module_belongs_to_a_stage_or_is_shared():
    loose = [name for name, _ in CORE if stage_of(name) is None and name not in SHARED]
    assert loose == []


def test_adapters_depend_on_the_core_and_not_on_each_other():
    for path in modules("adapters"):
        name = module_name(path)
        package = name.split(".")[1] if name.count(".") >= 1 else ""
        for target in imports(path):
            if target.startswith("adapters.") and target.split(".")[1] not in {package, "links", "console"}:
                if package in {"slack", "discord"}:
                    assert target.split(".")[1] not in {"slack", "discord"}, f"{name} imports {target}"


def test_the_checks_catch_a_backward_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from botsvc.service.app import App\n", encoding="utf-8")
    assert "botsvc.service.app" in imports(bad)
    assert STAGES.index(stage_of("botsvc.service.app")) > STAGES.index("judge")


@pytest.mark.parametrize(
    "path", sorted((ROOT / "benchmarks").glob("*.py")) + sorted((ROOT / "scripts").glob("*.py")), ids=lambda p: p.name
)
def test_scripts_outside_the_suite_import_names_that_exist(path):
    """Benchmarks are not run by the suite; a moved module must not break them silently."""
    import importlib

    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in {"botsvc", "adapters"}:
            module = importlib.import_module(node.module)
            for alias in node.names:
                assert hasattr(module, alias.name) or importlib.util.find_spec(f"{node.module}.{alias.name}"), (
                    f"{path.name}: from {node.module} import {alias.name}"
                )
