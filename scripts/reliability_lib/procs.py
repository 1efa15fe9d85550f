"""Real processes on free ports of their own, and the faults done to them.

Every child runs in a session of its own (`start_new_session=True`), so a SIGKILL of its
process group takes its children too (Celery's pool processes), and the terminal's
Ctrl-C reaches only the harness, which then stops everything it started (`Reaper`).
"""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
REDIS_SERVER = "/usr/bin/redis-server"
STOP_GRACE_SECONDS = 10


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate, timeout: float, interval: float = 0.05, what: str = "condition"):
    """Poll until `predicate()` is truthy; its value, or RuntimeError after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def kill_group(process: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


def stop_processes(processes: list[subprocess.Popen]) -> None:
    """SIGTERM each group, wait, then SIGKILL whatever is left (pool children included)."""
    for process in processes:
        if process.poll() is None:
            kill_group(process, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for process in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
    for process in processes:
        kill_group(process, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5)


class Reaper:
    """What this run started, stopped in reverse order on exit, error or Ctrl-C."""

    def __init__(self):
        self.stoppers: list = []

    def add(self, stopper) -> None:
        self.stoppers.append(stopper)

    def remove(self, stopper) -> None:
        with contextlib.suppress(ValueError):
            self.stoppers.remove(stopper)

    def stop_all(self) -> None:
        while self.stoppers:
            stopper = self.stoppers.pop()
            try:
                stopper()
            except Exception as error:  # keep stopping the rest
                print(f"[reliability] cleanup step failed: {error!r}", file=sys.stderr)


def spawn(command: list[str], log: Path, env: dict | None = None, **popen) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            **popen,
        )


class Redis:
    """A redis-server of our own: no persistence, so a restart comes back empty."""

    def __init__(self, logs: Path, reaper: Reaper):
        self.port = free_port()
        self.logs = logs
        self.process: subprocess.Popen | None = None
        reaper.add(self.stop)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> float:
        """Start it; the monotonic time of its first PONG."""
        command = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", "--daemonize", "no"]
        self.process = spawn(command, self.logs / "redis.log")
        return wait_for(self.pong_time, 10, 0.01, "redis-server to answer PING")

    def ping(self, timeout: float = 0.2) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def pong_time(self) -> float | None:
        return time.monotonic() if self.ping() else None

    def kill(self) -> None:
        if self.process is not None:
            kill_group(self.process)
            self.process.wait()
            self.process = None

    def pause(self) -> None:
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> float:
        os.kill(self.process.pid, signal.SIGCONT)
        return wait_for(self.pong_time, 10, 0.01, "redis-server to answer after SIGCONT")

    def flush(self) -> None:
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock:
            sock.sendall(b"FLUSHALL\r\n")
            sock.recv(16)

    def stop(self) -> None:
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGCONT)  # a paused server ignores TERM
            stop_processes([self.process])
            self.process = None


def postgres_bin() -> Path:
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    if not versions:
        raise RuntimeError("no PostgreSQL binaries under /usr/lib/postgresql/*/bin")
    return versions[-1].parent


class Postgres:
    """A throwaway cluster (initdb as the `postgres` OS user) on a port of our own.

    fsync is off (the data is thrown away; an immediate stop is a crash of the server's
    processes, not of the kernel, so committed rows survive it); synchronous_commit stays
    on, or an immediate stop could drop commits the product had acknowledged.
    """

    def __init__(self, base: Path, logs: Path, reaper: Reaper):
        self.port = free_port()
        self.bin = postgres_bin()
        self.data = base / "pgdata"
        self.log = logs / "postgres.log"
        self.as_root = os.geteuid() == 0
        reaper.add(self.destroy)

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/messaging"

    def _run(self, *command: str, check: bool = True) -> subprocess.CompletedProcess:
        prefix = ["runuser", "-u", "postgres", "--"] if self.as_root else []
        # A session of its own: the terminal's Ctrl-C must not stop the server first.
        return subprocess.run(
            [*prefix, *command],
            check=check,
            capture_output=True,
            text=True,
            cwd="/",
            start_new_session=True,
        )

    def init(self) -> None:
        self.data.mkdir(parents=True)
        self.log.touch()
        if self.as_root:
            shutil.chown(self.data, "postgres")
            shutil.chown(self.log, "postgres")
            shutil.chown(self.data.parent, "postgres")
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres")
        self.start()
        self._run(
            str(self.bin / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
            "-d", "postgres", "-c", "CREATE DATABASE messaging",
        )  # fmt: skip

    def start(self) -> float:
        """Start it; the monotonic time when it accepts connections."""
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data} -c fsync=off "
            "-c max_connections=300 -c full_page_writes=off"
        )
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log),
            "-o", options, "-w", "-t", "60", "start",
        )  # fmt: skip
        return wait_for(self.ready_time, 30, 0.02, "PostgreSQL to accept connections")

    def ready_time(self) -> float | None:
        import psycopg

        try:
            with psycopg.connect(
                f"postgresql://postgres@127.0.0.1:{self.port}/postgres", connect_timeout=1
            ):
                return time.monotonic()
        except psycopg.Error:
            return None

    def stop(self, mode: str = "fast") -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "stop", check=False)

    def destroy(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self.stop("immediate")
        shutil.rmtree(self.data, ignore_errors=True)


def start_cpu_hogs(count: int, logs: Path, reaper: Reaper) -> list[subprocess.Popen]:
    hogs = [spawn([PYTHON, "-c", "while True: pass"], logs / "hog.log") for _ in range(count)]
    reaper.add(lambda: stop_processes(hogs))
    return hogs
