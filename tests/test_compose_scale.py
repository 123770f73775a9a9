"""compose.scale.yaml: PostgreSQL, the web process and N workers on top of compose.yaml."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from botsvc.store.backends import is_postgres_url

ROOT = Path(__file__).resolve().parents[1]
SCALE = ROOT / "compose.scale.yaml"
START = "docker compose -f compose.yaml -f compose.scale.yaml up -d --scale worker="


def services() -> dict:
    return yaml.safe_load(SCALE.read_text(encoding="utf-8"))["services"]


def test_postgres_is_private_persistent_and_checked_before_the_bot_starts():
    scale = yaml.safe_load(SCALE.read_text(encoding="utf-8"))
    postgres = scale["services"]["postgres"]
    assert re.fullmatch(r"postgres:\d+", postgres["image"]) and "ports" not in postgres  # not published
    assert postgres["environment"]["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")  # no default password
    volume = postgres["volumes"][0].split(":")[0]
    assert volume in scale["volumes"] and postgres["volumes"][0].endswith(":/var/lib/postgresql/data")
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    for name in ("botsvc", "worker"):
        assert services()[name]["depends_on"]["postgres"]["condition"] == "service_healthy", name


def test_the_web_process_and_the_workers_use_the_same_database_as_compose_postgres_makes_it():
    found = services()
    postgres = found["postgres"]["environment"]
    urls = {name: found[name]["environment"]["BOTSVC_DATABASE_URL"] for name in ("botsvc", "worker")}
    assert len(set(urls.values())) == 1, urls
    url = re.sub(r"\$\{POSTGRES_PASSWORD:\?[^}]*\}", "secret", urls["botsvc"])
    assert is_postgres_url(url)
    parts = urlsplit(url)
    assert (parts.hostname, parts.port, parts.username, parts.password, parts.path) == (
        "postgres",
        5432,
        postgres["POSTGRES_USER"],
        "secret",
        "/" + postgres["POSTGRES_DB"],
    )


def test_workers_run_the_bots_image_with_its_configuration_and_a_rotated_log():
    base = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))["services"]["botsvc"]
    worker = services()["worker"]
    assert worker["image"] == base["image"] and worker["command"][0] == "worker"
    assert worker["env_file"] == base["env_file"]
    assert worker["environment"]["BOTSVC_CONFIG"] == base["environment"]["BOTSVC_CONFIG"]
    assert [v for v in base["volumes"] if "feeds.toml" in v] == worker["volumes"]
    assert "ports" not in worker  # only the web process answers HTTP
    assert worker["logging"] == base["logging"] == services()["postgres"]["logging"]
    assert int(worker["stop_grace_period"].rstrip("s")) >= 10


def test_the_password_the_file_needs_and_the_command_that_starts_it_are_documented():
    assert "POSTGRES_PASSWORD=" in (ROOT / ".env.example").read_text(encoding="utf-8")
    assert START in SCALE.read_text(encoding="utf-8")
    assert START in (ROOT / "docs" / "scaling.md").read_text(encoding="utf-8")
