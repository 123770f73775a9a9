"""The image's runtime contract, replayed without a container engine.

The final stage's ENV, WORKDIR, ENTRYPOINT + CMD, HEALTHCHECK and STOPSIGNAL are read
from the Dockerfile and run here: its files are laid out under a scratch root the
way its COPY lines put them, absolute paths in ENV are moved under that root, the
mounted ``feeds.toml`` (what compose mounts) points at a loopback feed server, and
the port is a free one (what ``-p`` would map). The bot must come up healthy by the
image's own health check, keep its database in the volume, and stop with status 0
on the image's stop signal within Docker's default 10 s grace.

Building the image itself needs a container engine; ``scripts/container-smoke.sh``
does that where one exists.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from processes import free_port, wait_for
from test_dockerfile import DOCKERFILE, env_of, parse_dockerfile

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CONFIG = """
[[feeds]]
name = "Seoul Wire"
url = "{url}"
interval = "5m"

[topics.japan-korea]
title = "Japan-South Korea"
[[topics.japan-korea.rules]]
any = ["GSOMIA", "export controls", "white list", "forced labour", "boycott"]
"""


def inside(root: Path, image_path: str) -> Path:
    """Where an absolute path of the image lives under the scratch ``root``."""
    return root / image_path.lstrip("/")


def lay_out(root: Path, final) -> None:
    """Copy what the final stage's own COPY lines copy from the build context."""
    for instruction in final.all("COPY"):
        if "from" in instruction.flags:
            continue  # the venv: here, the project's own .venv stands in for it
        *sources, dest = instruction.words()
        for source in sources:
            origin = ROOT / source
            target = inside(root, dest)
            if origin.is_dir():
                shutil.copytree(origin, target, dirs_exist_ok=True)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(origin, target if not dest.endswith("/") else target / origin.name)


def test_entrypoint_comes_up_healthy_and_stops_on_the_stop_signal(tmp_path, feed_server):
    final = parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))[-1]
    root = tmp_path / "root"
    lay_out(root, final)
    for instruction in final.all("RUN"):
        for directory in ("/data", "/app"):
            if directory in instruction.args:
                inside(root, directory).mkdir(parents=True, exist_ok=True)

    image_env = env_of(final)
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for key, value in image_env.items():
        if key == "PATH":
            env[key] = f"{BIN}:{os.environ['PATH']}"  # /opt/venv/bin in the image
        elif value.startswith("/"):
            env[key] = str(inside(root, value))
        else:
            env[key] = value
    env["BOTSVC_HTTP_PORT"] = str(port)
    url = feed_server.static("/seoul.xml", (ROOT / "examples" / "feeds" / "seoul-wire.xml").read_bytes())
    Path(env["BOTSVC_CONFIG"]).write_text(CONFIG.format(url=url), encoding="utf-8")  # the mounted feeds.toml

    [entrypoint] = final.all("ENTRYPOINT")
    [cmd] = final.all("CMD")
    [workdir] = final.all("WORKDIR")
    [healthcheck] = final.all("HEALTHCHECK")
    [stopsignal] = final.all("STOPSIGNAL")
    kind, _, exec_form = healthcheck.args.partition(" ")
    assert kind == "CMD"
    health_command = json.loads(exec_form)

    err = tmp_path / "run.err"
    with err.open("w") as stderr:
        proc = subprocess.Popen(
            [shutil.which(entrypoint.words()[0], path=env["PATH"]), *entrypoint.words()[1:], *cmd.words()],
            cwd=inside(root, workdir.args),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:

        def healthy() -> bool:
            check = subprocess.run(
                [shutil.which(health_command[0], path=env["PATH"]), *health_command[1:]],
                env=env,
                capture_output=True,
                text=True,
                timeout=30,
            )
            return check.returncode == 0 and '"polls": "ok"' in check.stdout

        assert wait_for(healthy, timeout=60), err.read_text()
        assert Path(image_env["BOTSVC_DB"]).name in os.listdir(inside(root, "/data"))
    finally:
        started = time.monotonic()
        proc.send_signal(getattr(signal, stopsignal.args))
        code = proc.wait(timeout=15)
    assert code == 0 and time.monotonic() - started < 10, err.read_text()
    assert "Traceback" not in err.read_text()
