"""`make run` (scripts/run.py): the database its URL names is created, and the embedded
fallback is a real PostgreSQL and a real Redis that serve the whole system and leave no
process behind after one Ctrl-C."""

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import psutil
import psycopg
import pytest

from conftest import _free_port

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import run  # noqa: E402 - scripts/run.py, importable once scripts/ is on the path

SERVER = "postgres://postgres@127.0.0.1:5432"


def _exists(name: str) -> bool:
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
        return bool(conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone())


def test_the_database_the_url_names_is_created_once():
    name = f"make_run_{uuid.uuid4().hex[:12]}"
    try:
        run.ensure_database(f"{SERVER}/{name}")
        assert _exists(name)
        run.ensure_database(f"{SERVER}/{name}")  # already there: nothing to do
    finally:
        with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
    assert not _exists(name)


def _healthz(port: int) -> dict | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
            return json.loads(answer.read())
    except OSError:
        return None


def _ours(run_dir: Path, parent: psutil.Process, redis_port: int) -> set[int]:
    """Every process of this run: run.py's descendants and the embedded servers, which
    daemonize: PostgreSQL's (its data under `run_dir`) and the Redis on `redis_port`."""
    pids = {child.pid for child in parent.children(recursive=True)}
    for process in psutil.process_iter(["cmdline"]):
        if any(str(run_dir) in part for part in process.info["cmdline"] or ()):
            pids.add(process.pid)
    for connection in psutil.net_connections(kind="tcp"):
        if connection.status == psutil.CONN_LISTEN and connection.laddr.port == redis_port:
            pids.add(connection.pid)
    postmaster = run_dir / "pgdata" / "postmaster.pid"
    if postmaster.exists():
        pids.add(int(postmaster.read_text().split()[0]))
    return pids - {parent.pid}


@pytest.mark.e2e
def test_embedded_make_run_serves_the_system_and_ctrl_c_leaves_no_process(tmp_path):
    port = _free_port()
    env = {
        **os.environ,
        "EMBEDDED": "1",
        "RUN_DIR": str(tmp_path),
        "PORT": str(port),
        "DJANGO_SETTINGS_MODULE": "messaging_site.settings.dev",
    }
    for name in ("DATABASE_URL", "REDIS_URL", "TEST_RUN_ID"):
        env.pop(name, None)
    log = tmp_path / "make-run.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "scripts" / "run.py")],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    parent = psutil.Process(process.pid)
    try:
        deadline = time.monotonic() + 240
        health = None
        while time.monotonic() < deadline and process.poll() is None:
            health = _healthz(port)
            if health is not None:
                break
            time.sleep(0.5)
        output = log.read_text()
        assert health == {"database": "ok", "redis": "ok"}, output
        assert "database: embedded PostgreSQL" in output
        redis_port = int(re.search(r"embedded redis-server .* on redis://[^:]+:(\d+)/", output)[1])
        ours = _ours(tmp_path, parent, redis_port)
        names = {psutil.Process(pid).name() for pid in ours}
        assert {"postgres", "redis-server", "celery"} <= names, names
        commands = [" ".join(psutil.Process(pid).cmdline()) for pid in ours]
        assert any("messaging_site.server" in command for command in commands), commands
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)  # what Ctrl-C sends
    assert process.wait(timeout=60) == 0, log.read_text()
    time.sleep(0.5)
    left = [
        pid for pid in ours if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"
    ]
    assert left == [], [psutil.Process(pid).cmdline() for pid in left]
