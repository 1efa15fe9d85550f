"""Daphne on one address with several processes, to use every core.

Each process gets a listening socket of its own, bound to the same address with
SO_REUSEPORT, so the kernel spreads new connections evenly across the processes (one
socket shared by all would favour whichever process is least busy at accept time, and
Daphne's own default backlog of 50 drops connections in a burst). The sockets are made
here and handed to Daphne by file descriptor (`-e fd:fileno=N`).

    WEB_PROCESSES=2 HOST=0.0.0.0 PORT=8000 python scripts/serve.py

`scripts/run.py` (`make run`) uses the same functions; Docker's web service runs this.
Stops every Daphne on SIGINT / SIGTERM, and all of them when one exits.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Daphne with the product's one change to its server (messaging_site/server.py).
DAPHNE = [sys.executable, "-m", "messaging_site.server"]
BACKLOG = 4096


def fresh_metrics_dir(env: dict, directory: Path | None = None) -> Path | None:
    """The directory where this host's processes keep their Prometheus series
    (messaging_site/metrics.py), emptied, in `env` for every process started with it.
    An operator's PROMETHEUS_MULTIPROC_DIR is kept as it is, since other processes may
    share it (docker-compose.yml empties its volume before starting any); otherwise
    `directory`, or a new temporary one. Returns the directory to remove at exit, if any."""
    if env.get("PROMETHEUS_MULTIPROC_DIR"):
        Path(env["PROMETHEUS_MULTIPROC_DIR"]).mkdir(parents=True, exist_ok=True)
        return None
    if directory is None:
        directory = Path(tempfile.mkdtemp(prefix="messaging-metrics-"))
        created = directory
    else:
        shutil.rmtree(directory, ignore_errors=True)  # series of processes now gone
        directory.mkdir(parents=True)
        created = None
    env["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    return created


def listening_sockets(host: str, port: int, count: int) -> list[socket.socket]:
    if ":" in host:
        # Daphne's fd endpoint (twisted's `fd:` plugin) adopts AF_INET sockets only.
        raise SystemExit(f"scripts/serve.py listens on IPv4 only; HOST={host!r} is IPv6.")
    # SO_REUSEPORT would let this bind share the port with a server already on it (say,
    # one left over by a killed run) and split the traffic with it: fail loudly instead.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise SystemExit(f"{host}:{port} is in use ({error.strerror}).") from None
    sockets = []
    for _ in range(count):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)
        sock.set_inheritable(True)
        sockets.append(sock)
    return sockets


def daphne_command(sock: socket.socket, application: str = "messaging_site.asgi:application"):
    return [
        *DAPHNE,
        "-e",
        f"fd:fileno={sock.fileno()}",
        # Daphne would close every socket after a day by default.
        "--websocket_timeout",
        "-1",
        # A handshake may wait its turn in a burst (messaging_site/consumers.py) rather
        # than be dropped after Daphne's default 5 s.
        "--websocket_connect_timeout",
        "30",
        # Behind a proxy: client addresses from X-Forwarded-For (PROXY_HEADERS=1).
        *(["--proxy-headers"] if os.environ.get("PROXY_HEADERS") in {"1", "true"} else []),
        application,
    ]


def start_web(
    host: str,
    port: int,
    processes: int,
    env: dict,
    *,
    application: str = "messaging_site.asgi:application",
    **popen,
) -> list[subprocess.Popen]:
    """N Daphne processes serving host:port (the product, unless `application` names
    another ASGI app, as bench/rest_floor.py's floors do); the caller stops them."""
    sockets = listening_sockets(host, port, processes)
    children = []
    try:
        for sock in sockets:
            children.append(
                subprocess.Popen(
                    daphne_command(sock, application),
                    env=env,
                    cwd=ROOT,
                    pass_fds=(sock.fileno(),),
                    **popen,
                )
            )
    except BaseException:
        for child in children:
            child.terminate()
        raise
    finally:
        for sock in sockets:
            sock.close()  # the children hold their copies
    return children


def main() -> int:
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "8000"))
    processes = int(os.environ.get("WEB_PROCESSES", "1"))
    stopping = False

    def on_signal(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    env = dict(os.environ)
    scratch = fresh_metrics_dir(env)
    children = start_web(host, port, processes, env)
    code = 0
    while not stopping:
        for child in children:
            if child.poll() is not None:
                code, stopping = child.returncode or 1, True
        time.sleep(0.2)
    for child in children:
        if child.poll() is None:
            child.terminate()
    for child in children:
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
    if scratch is not None:
        shutil.rmtree(scratch, ignore_errors=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
