#!/usr/bin/env python
"""What a 25 MiB upload costs the other sockets of its Daphne process: the product's
server (messaging_site/server.py, Twisted's own parse of multipart bodies off) against
stock Daphne on the same application, alternated for `--rounds` in one run.

A WebSocket client on the same process sends `ping` every 10 ms and times each `pong`
while `--uploads` uploads of `--mib` MiB go to `POST /api/uploads/` one after another;
reported per server: the longest and the p99 pong wait during the uploads, the upload's
median time, and the process's peak resident memory.

    .venv/bin/python bench/upload_stall.py --rounds 3

Reuses bench/ws_fanout.py's database (`messaging_wsbench`) for a user and its token.
"""

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import websockets

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "scripts"))

import ws_fanout  # noqa: E402


def token() -> str:
    """A member's token from whatever shape the database has; one room of two if empty."""
    try:
        layout = ws_fanout.ours_layout(0, 0)
    except subprocess.CalledProcessError:  # no database yet
        layout = []
    if not layout:
        ws_fanout.prepare(1, 1)
        layout = ws_fanout.ours_layout(1, 1)
    return layout[0][1][0]


def start(kind: str, uploads: str) -> ws_fanout.Server:
    """`uploads`: where the server keeps the files (a temporary folder, removed after)."""
    if kind == "ours":
        return ws_fanout.start_ours(1, extra_env={"UPLOAD_ROOT": uploads})
    port = ws_fanout.free_port()
    env = {
        **os.environ,
        "UPLOAD_ROOT": uploads,
        "DJANGO_SETTINGS_MODULE": "messaging_site.settings.dev",
        "DATABASE_URL": ws_fanout.DB_URL,
        "DEBUG": "0",
        "THROTTLES": "off",
        "PYTHONPATH": str(ROOT),
    }
    log = open(ROOT / ".bench-stock.log", "w")  # noqa: SIM115 - the child writes to it
    daphne = str(Path(sys.executable).parent / "daphne")
    command = [daphne, "-b", "127.0.0.1", "-p", str(port), "--websocket_timeout", "-1",
               "messaging_site.asgi:application"]  # fmt: skip
    child = subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    ws_fanout.wait_for(port)
    time.sleep(1.5)
    return ws_fanout.Server("stock", port, [child])


def multipart(size: int) -> tuple[bytes, str]:
    boundary = "bench-upload-boundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    return head + os.urandom(size) + f"\r\n--{boundary}--\r\n".encode(), boundary


def upload(port: int, key: str, body: bytes, boundary: str) -> float:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/uploads/",
        data=body,
        headers={
            "Authorization": f"Token {key}",
            "Content-Type": f"multipart/form-data; boundary={boundary}",
        },
    )
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310
        assert response.status == 201, response.status  # noqa: S101
        response.read()
    return time.perf_counter() - started


async def measure(server: ws_fanout.Server, key: str, uploads: int, size: int) -> dict:
    body, boundary = multipart(size)
    waits: list[float] = []
    peak = [server.rss_mb()]
    done = threading.Event()
    times: list[float] = []

    def uploader():
        try:
            for _ in range(uploads):
                times.append(upload(server.port, key, body, boundary))
        finally:
            done.set()

    url = f"ws://127.0.0.1:{server.port}/ws/?token={key}"
    async with websockets.connect(url, max_size=2**22) as socket:
        for _ in range(20):  # warm
            await socket.send(json.dumps({"action": "ping"}))
            await socket.recv()
        thread = threading.Thread(target=uploader)
        thread.start()
        while not done.is_set():
            sent = time.perf_counter()
            await socket.send(json.dumps({"action": "ping"}))
            while json.loads(await socket.recv()).get("action") != "pong":
                pass
            waits.append((time.perf_counter() - sent) * 1000)
            peak.append(server.rss_mb())
            await asyncio.sleep(0.01)
        thread.join()
    waits.sort()
    return {
        "max_ms": waits[-1],
        "p99_ms": waits[int(len(waits) * 0.99)],
        "upload_s": statistics.median(times),
        "peak_rss_mb": max(peak),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--uploads", type=int, default=3)
    parser.add_argument("--mib", type=int, default=25)
    args = parser.parse_args()
    key = token()
    rows = []
    for round_ in range(1, args.rounds + 1):
        for kind in ("ours", "stock"):
            with tempfile.TemporaryDirectory(prefix="bench-uploads-") as uploads:
                server = start(kind, uploads)
                try:
                    figures = asyncio.run(measure(server, key, args.uploads, args.mib * 2**20))
                finally:
                    server.stop()
            rows.append((round_, kind, figures))
            print(
                f"round {round_} {kind:5}: longest pong wait {figures['max_ms']:7.1f} ms, "
                f"p99 {figures['p99_ms']:6.1f} ms, upload {figures['upload_s']:.2f} s, "
                f"peak RSS {figures['peak_rss_mb']:.0f} MB",
                flush=True,
            )
    for name in ("max_ms", "p99_ms", "upload_s", "peak_rss_mb"):
        ratios = [
            ours[name] / stock[name]
            for (_, _, ours), (_, _, stock) in zip(rows[::2], rows[1::2], strict=True)
        ]
        print(f"{name}: ours / stock per round {', '.join(f'{x:.2f}' for x in ratios)}")


if __name__ == "__main__":
    main()
