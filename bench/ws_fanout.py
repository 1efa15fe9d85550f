#!/usr/bin/env python
"""WebSocket fan-out: our server against the bare Channels tutorial server and a bare
Socket.IO server, same harness, same run, same machine.

    .venv/bin/python bench/ws_fanout.py                      # make bench
    .venv/bin/python bench/ws_fanout.py --saturate 20,40,60,80,100
    .venv/bin/python bench/ws_fanout.py --idle 10000 --target ours

Shape: `--clients` receiving sockets (default 1,000) in rooms of `--room-size` (100), plus
one sending socket per room. The senders post `--rate` messages a second in total, spread
over the rooms, so each message reaches 100 sockets: 20 messages/s is 2,000 deliveries/s.
Every message carries its send time; every receiving socket records send-to-receive
latency. Phases, per server:

1. connect: all sockets, ramped in at `--ramp` per second (1,000/s: all within a second);
2. steady: `--duration` seconds at `--rate`, after a short warm-up;
3. saturation (with `--saturate r1,r2,...`): 8 s per rate; the saturation throughput is
   the highest delivery rate whose p99 stays under 250 ms;
4. disconnect: every socket closed at once.

"ours" is the product (`scripts/serve.py`, `--web-processes` Daphne processes, every
message persisted with its seq, ordering and blocks enforced), on its own database
`messaging_wsbench`, with the per-connection send throttle off (ten sockets send for
whole rooms here, which a person never does). "bare" is `bench/bare_chat.py` under one
stock Daphne process (`--bare-processes`). "socketio" is `bench/socketio/server.js`, the
same room broadcast written with Socket.IO, in one Node.js process (`node` on PATH, its
modules from `npm ci --prefix bench/socketio`, which `make bench` runs). Server CPU is read
from /proc for the server processes (in cores: 1.0 is one core busy), memory is their
resident set.

The client is this process (asyncio, `websockets`): it shares the two cores with the
servers, Redis and PostgreSQL, equally for every server. It speaks Socket.IO itself over
the same raw WebSocket (Engine.IO v4, Socket.IO v5, the websocket transport from the start
as socket.io-client does with `transports: ["websocket"]`), so every server costs the
client the same.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

DB_NAME = "messaging_wsbench"
DB_URL = f"postgres://postgres@127.0.0.1:5432/{DB_NAME}"
PASSWORD_HASH = "pbkdf2_sha256$1000000$bench$" + "A" * 43 + "="
TICKS = os.sysconf("SC_CLK_TCK")
TARGETS = ("ours", "bare", "socketio")
SOCKETIO = ROOT / "bench" / "socketio"
SOCKETIO_EVENT = "chat message"


# --- the product's data: users, tokens, rooms ----------------------------------------------


def prepare(rooms: int, room_size: int) -> None:
    """Users `ws00000...` with tokens, and rooms each with one sender and `room_size`
    receivers, all approved. Idempotent: rebuilt when the shape differs."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "messaging_site.settings.dev")
    os.environ["DATABASE_URL"] = DB_URL
    subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", f"CREATE DATABASE {DB_NAME}"],
        capture_output=True,
        check=False,
    )
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import transaction
    from django.utils import timezone
    from rest_framework.authtoken.models import Token

    from accounts.models import User
    from chat.models import Conversation, Membership

    call_command("migrate", verbosity=0)
    wanted = rooms * (room_size + 1)
    if (
        Conversation.objects.filter(kind="room").count() == rooms
        and User.objects.count() == wanted
        and Membership.objects.count() == wanted
    ):
        return
    with transaction.atomic():
        Membership.objects.all().delete()
        Conversation.objects.all().delete()
        Token.objects.all().delete()
        User.objects.all().delete()
        users = User.objects.bulk_create(
            User(username=f"ws{i:05d}", password=PASSWORD_HASH) for i in range(wanted)
        )
        Token.objects.bulk_create(Token(user=u, key=f"{u.pk:040d}") for u in users)
        now = timezone.now()
        for r in range(rooms):
            room = Conversation.objects.create(kind="room", name=f"bench{r}", created_by=users[0])
            members = users[r * (room_size + 1) : (r + 1) * (room_size + 1)]
            Membership.objects.bulk_create(
                Membership(
                    conversation=room,
                    user=u,
                    role="admin" if n == 0 else "member",
                    status="approved",
                    joined_at=now,
                )
                for n, u in enumerate(members)
            )


def ours_layout(rooms: int, room_size: int) -> list[tuple[int, list[str]]]:
    """Per room: its id and its members' tokens, the sender's first."""
    out = subprocess.run(
        [
            "psql",
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            DB_NAME,
            "-Atc",
            "SELECT m.conversation_id, t.key FROM chat_membership m "
            "JOIN authtoken_token t ON t.user_id = m.user_id ORDER BY m.conversation_id, m.user_id",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    layout: dict[int, list[str]] = {}
    for line in out:
        room, key = line.split("|")
        layout.setdefault(int(room), []).append(key)
    return list(layout.items())


# --- servers ----------------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    port: int
    processes: list[subprocess.Popen]

    def pids(self) -> list[int]:
        return [p.pid for p in self.processes]

    def cpu_seconds(self) -> float:
        total = 0
        for pid in self.pids():
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        return total / TICKS

    def rss_mb(self) -> float:
        total = 0
        for pid in self.pids():
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        return total / 1024

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(port: int, timeout: float = 30) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError(f"nothing on port {port}")


def start_ours(
    processes: int,
    *,
    throttles: bool = False,
    application: str = "messaging_site.asgi:application",
    extra_env: dict | None = None,
) -> Server:
    from serve import start_web

    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "messaging_site.settings.dev",
        "DATABASE_URL": DB_URL,
        "DEBUG": "0",
        "THROTTLES": "on" if throttles else "off",
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": str(ROOT),
        **(extra_env or {}),
    }
    log = open(ROOT / ".bench-ours.log", "w")  # noqa: SIM115 - the children write to it
    children = start_web("127.0.0.1", port, processes, env, application=application,
                         stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    wait_for(port)
    time.sleep(1.5)  # Django imports after the socket listens
    return Server("ours", port, children)


def start_bare(processes: int) -> Server:
    from serve import listening_sockets

    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    log = open(ROOT / ".bench-bare.log", "w")  # noqa: SIM115
    if processes == 1:  # exactly as the tutorial runs it
        command = [str(Path(sys.executable).parent / "daphne"), "-b", "127.0.0.1", "-p", str(port),
                   "bench.bare_chat:application"]  # fmt: skip
        children = [subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=log)]
    else:
        children = []
        for sock in listening_sockets("127.0.0.1", port, processes):
            command = [str(Path(sys.executable).parent / "daphne"), "-e",
                       f"fd:fileno={sock.fileno()}", "bench.bare_chat:application"]  # fmt: skip
            children.append(
                subprocess.Popen(
                    command, env=env, cwd=ROOT, stdout=log, stderr=log, pass_fds=(sock.fileno(),)
                )
            )
            sock.close()
    wait_for(port)
    time.sleep(1.0)
    return Server("bare", port, children)


def node_binary() -> str:
    """Checked before any server starts, so a missing Node.js does not cost the other runs."""
    node = shutil.which("node")
    if node is None:
        raise SystemExit("the socketio target needs Node.js 20 or later: no `node` on PATH")
    if not (SOCKETIO / "node_modules" / "socket.io").is_dir():
        raise SystemExit("the socketio target needs its modules: npm ci --prefix bench/socketio")
    return node


def start_socketio(node: str) -> Server:
    port = free_port()
    log = open(ROOT / ".bench-socketio.log", "w")  # noqa: SIM115
    # node itself, not `npm start`: /proc must show the server's CPU and memory, not npm's.
    children = [subprocess.Popen([node, "server.js"], env={**os.environ, "PORT": str(port)},
                                 cwd=SOCKETIO, stdout=log, stderr=log)]  # fmt: skip
    wait_for(port)
    return Server("socketio", port, children)


async def socketio_connect(ws) -> None:
    """Engine.IO's open packet, then Socket.IO's CONNECT to the main namespace: the server
    has run its `connection` handler (joined the room) once it answers `40{"sid":...}`."""
    opened = await ws.recv()
    if not opened.startswith("0{"):
        raise ConnectionError(f"no Engine.IO open packet: {opened[:40]!r}")
    await ws.send("40")
    answer = await ws.recv()
    if not answer.startswith("40{"):
        raise ConnectionError(f"namespace refused: {answer[:80]!r}")


# --- the client -------------------------------------------------------------------------------


@dataclass
class Stats:
    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    recording: bool = False

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


class Harness:
    def __init__(self, server: Server, rooms: list[tuple[str, str, list[str]]]):
        """`rooms`: (room key for frames, sender url, receiver urls)."""
        self.server = server
        self.rooms = rooms
        self.stats = Stats()
        self.sockets = []
        self.senders = []
        self.readers = []

    async def _open(self, url: str, receiving: bool):
        import websockets

        ws = None
        try:
            ws = await websockets.connect(url, open_timeout=60, ping_interval=None,
                                          max_size=2**20, close_timeout=10)  # fmt: skip
            if self.server.name == "socketio":
                await asyncio.wait_for(socketio_connect(ws), 60)
        except Exception as error:
            self.stats.error(f"connect {type(error).__name__}")
            if ws is not None:
                await ws.close()
            return None
        self.sockets.append(ws)
        self.readers.append(asyncio.create_task(self._read(ws, receiving)))
        return ws

    async def _read(self, ws, receiving: bool) -> None:
        stats = self.stats
        socketio = self.server.name == "socketio"
        try:
            async for raw in ws:
                if socketio:
                    # Engine.IO v4: the server pings every pingInterval and drops a socket
                    # whose pong has not come within pingTimeout, senders included.
                    if raw == "2":
                        await ws.send("3")
                        continue
                    if not raw.startswith("42"):  # not an event: 41 is the server's DISCONNECT
                        stats.error(f"packet {raw[:2]}")
                        continue
                if not receiving:
                    continue
                frame = json.loads(raw[2:])[1] if socketio else json.loads(raw)
                text = frame.get("message")
                if text is None:
                    if frame.get("action") == "error":
                        stats.error(f"frame {frame.get('code')}")
                    continue
                if stats.recording:
                    stats.latencies.append(time.time() - float(text))
        except Exception as error:
            stats.error(f"read {type(error).__name__}")

    async def connect_all(self, ramp: float) -> dict:
        urls = [(url, False) for _, url, _ in self.rooms]
        urls += [(url, True) for _, _, receivers in self.rooms for url in receivers]
        start = time.perf_counter()
        tasks = []
        for n, (url, receiving) in enumerate(urls):
            delay = start + n / ramp - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(self._open(url, receiving)))
        opened = await asyncio.gather(*tasks)
        self.senders = opened[: len(self.rooms)]
        return {
            "sockets": len(urls),
            "connected": sum(1 for ws in opened if ws is not None),
            "seconds": round(time.perf_counter() - start, 2),
            "errors": dict(self.stats.errors),
        }

    def frame(self, room_key: str, stamp: str) -> str:
        if self.server.name == "ours":
            return json.dumps({"action": "sendMessage", "conversationId": int(room_key),
                               "message": stamp, "clientId": uuid.uuid4().hex})  # fmt: skip
        if self.server.name == "socketio":
            return "42" + json.dumps([SOCKETIO_EVENT, {"message": stamp}])
        return json.dumps({"message": stamp})

    async def run(self, rate: float, seconds: float, warmup: float = 2.0) -> dict:
        """Send `rate` messages a second for warmup + seconds; measure the last `seconds`."""
        self.stats.latencies = []
        interval = 1.0 / rate
        start = time.perf_counter()
        total = warmup + seconds
        n = 0
        cpu_before = rss = None
        while True:
            at = start + n * interval
            now = time.perf_counter()
            if at - start >= total:
                break
            if at > now:
                await asyncio.sleep(at - now)
            if not self.stats.recording and at - start >= warmup:
                self.stats.recording = True
                cpu_before, wall_before = self.server.cpu_seconds(), time.perf_counter()
                client_before = time.process_time()
                errors_before = sum(self.stats.errors.values())
            sender = self.senders[n % len(self.senders)]
            if sender is not None:
                try:
                    await sender.send(
                        self.frame(self.rooms[n % len(self.rooms)][0], repr(time.time()))
                    )
                except Exception as error:
                    self.stats.error(f"send {type(error).__name__}")
            n += 1
        await asyncio.sleep(1.0)  # let the last ones land
        self.stats.recording = False
        wall = time.perf_counter() - wall_before
        cpu = (self.server.cpu_seconds() - cpu_before) / wall
        client_cpu = (time.process_time() - client_before) / wall
        rss = self.server.rss_mb()
        lat = [x * 1000 for x in self.stats.latencies]
        return {
            "rate": rate,
            "deliveries_per_s": round(len(lat) / seconds),
            "expected_per_s": round(rate * len(self.rooms[0][2])),
            "p50_ms": round(pct(lat, 50), 1),
            "p99_ms": round(pct(lat, 99), 1),
            "max_ms": round(max(lat), 1) if lat else None,
            "server_cpu_cores": round(cpu, 2),
            "client_cpu_cores": round(client_cpu, 2),
            "server_rss_mb": round(rss, 1),
            "new_errors": sum(self.stats.errors.values()) - errors_before,
        }

    async def close_all(self) -> dict:
        before = sum(self.stats.errors.values())
        start = time.perf_counter()
        results = await asyncio.gather(*(ws.close() for ws in self.sockets), return_exceptions=True)
        failures = [r for r in results if isinstance(r, Exception)]
        for task in self.readers:
            task.cancel()
        await asyncio.gather(*self.readers, return_exceptions=True)
        return {
            "closed": len(self.sockets) - len(failures),
            "close_failures": len(failures),
            "seconds": round(time.perf_counter() - start, 2),
            "read_errors_meanwhile": sum(self.stats.errors.values()) - before,
        }


def room_url(server: Server, room: str) -> str:
    """Where a bare server puts a socket in `room` (ours takes rooms from the database)."""
    base = f"ws://127.0.0.1:{server.port}"
    if server.name == "socketio":
        return f"{base}/socket.io/?EIO=4&transport=websocket&room={room}"
    return f"{base}/ws/chat/{room}/"


def room_urls(server: Server, rooms: int, room_size: int, layout=None):
    if server.name != "ours":
        return [
            (str(r), room_url(server, f"room{r}"), [room_url(server, f"room{r}")] * room_size)
            for r in range(rooms)
        ]
    base = f"ws://127.0.0.1:{server.port}"
    return [
        (str(room_id), f"{base}/ws/?token={keys[0]}", [f"{base}/ws/?token={k}" for k in keys[1:]])
        for room_id, keys in layout
    ]


async def measure(server: Server, args, layout) -> dict:
    rooms = args.clients // args.room_size
    harness = Harness(server, room_urls(server, rooms, args.room_size, layout))
    result = {"server": server.name, "processes": len(server.processes)}
    result["rss_idle_mb"] = round(server.rss_mb(), 1)
    result["connect"] = await harness.connect_all(args.ramp)
    result["rss_connected_mb"] = round(server.rss_mb(), 1)
    await asyncio.sleep(2)
    result["steady"] = await harness.run(args.rate, args.duration)
    if args.saturate:
        steps = []
        for rate in args.saturate:
            step = await harness.run(rate, 8.0, warmup=1.5)
            steps.append(step)
            print(f"  {server.name} rate {rate}/s: {json.dumps(step)}", flush=True)
            if step["p99_ms"] > 250 or step["deliveries_per_s"] < 0.9 * step["expected_per_s"]:
                break
        result["saturation_steps"] = steps
        ok = [s for s in steps if s["p99_ms"] <= 250]
        result["saturation_deliveries_per_s"] = max((s["deliveries_per_s"] for s in ok), default=0)
    result["disconnect"] = await harness.close_all()
    result["errors"] = harness.stats.errors
    return result


async def measure_idle(server: Server, args, layout) -> dict:
    """`--idle` sockets held open with no traffic: errors and memory per socket."""
    if server.name != "ours":
        urls = [room_url(server, f"idle{n % 100}") for n in range(args.idle)]
    else:
        keys = [k for _, ks in layout for k in ks]
        urls = [f"ws://127.0.0.1:{server.port}/ws/?token={keys[n % len(keys)]}"
                for n in range(args.idle)]  # fmt: skip
    harness = Harness(server, [])
    before = server.rss_mb()
    start = time.perf_counter()
    tasks = []
    for n, url in enumerate(urls):
        delay = start + n / args.ramp - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(harness._open(url, False)))
    opened = await asyncio.gather(*tasks)
    connect_seconds = round(time.perf_counter() - start, 2)
    await asyncio.sleep(5)
    after = server.rss_mb()
    connected = sum(1 for ws in opened if ws is not None)
    result = {
        "server": server.name,
        "idle_sockets": connected,
        "connect_seconds": connect_seconds,
        "errors": dict(harness.stats.errors),
        "rss_before_mb": round(before, 1),
        "rss_after_mb": round(after, 1),
        "kb_per_socket": round((after - before) * 1024 / max(connected, 1), 1),
    }
    await asyncio.sleep(5)
    result["still_open"] = sum(1 for ws in harness.sockets if ws.state.name == "OPEN")
    result["disconnect"] = await harness.close_all()
    return result


def summarize(results: list[dict], args) -> None:
    by_name = {result["server"]: result for result in results}
    if args.idle:
        print("\nidle sockets: held, errors, memory each")
        for name, result in by_name.items():
            errors = sum(result["errors"].values())
            print(f"  {name}: {result['idle_sockets']} of {args.idle}, {errors} errors, "
                  f"{result['kb_per_socket']} KB")  # fmt: skip
        return
    ours = by_name.get("ours")
    for peer in (by_name.get(name) for name in ("bare", "socketio")):
        if ours is None or peer is None:
            continue
        print(f"\nours / {peer['server']}:")
        for key in ("p50_ms", "p99_ms", "deliveries_per_s", "server_cpu_cores"):
            a, b = ours["steady"][key], peer["steady"][key]
            print(f"  steady {key}: {a} / {b}" + (f" = {a / b:.2f}" if b else ""))
        if args.saturate:
            a, b = ours["saturation_deliveries_per_s"], peer["saturation_deliveries_per_s"]
            print(f"  saturation deliveries/s: {a} / {b}" + (f" = {a / b:.2f}" if b else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", choices=["all", *TARGETS], default="all")
    parser.add_argument("--clients", type=int, default=1000, help="receiving sockets")
    parser.add_argument("--room-size", type=int, default=100)
    parser.add_argument("--ramp", type=float, default=1000.0, help="connects per second")
    parser.add_argument("--rate", type=float, default=20.0, help="messages per second")
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--saturate", type=lambda s: [float(x) for x in s.split(",")])
    parser.add_argument("--idle", type=int, help="hold this many idle sockets instead")
    parser.add_argument("--web-processes", type=int, default=2)
    parser.add_argument("--bare-processes", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--profile", type=Path, help="py-spy each server process into this folder (raw stacks)"
    )
    args = parser.parse_args()

    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the servers inherit it too
    names = TARGETS if args.target == "all" else (args.target,)
    node = node_binary() if "socketio" in names else None
    rooms = args.clients // args.room_size
    results = []
    layout = None
    if "ours" in names:
        prepare(rooms, args.room_size)
        layout = ours_layout(rooms, args.room_size)
    for name in names:
        if name == "ours":
            server = start_ours(args.web_processes)
        elif name == "bare":
            server = start_bare(args.bare_processes)
        else:
            server = start_socketio(node)
        spies = []
        if args.profile and name != "socketio":  # py-spy reads Python stacks only
            args.profile.mkdir(parents=True, exist_ok=True)
            spies = [
                subprocess.Popen(
                    [
                        str(Path(sys.executable).parent / "py-spy"),
                        "record",
                        "--nonblocking",
                        "--format",
                        "raw",
                        "--rate",
                        "200",
                        "-o",
                        str(args.profile / f"{name}-{pid}.txt"),
                        "-p",
                        str(pid),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                for pid in server.pids()
            ]
        try:
            runner = measure_idle if args.idle else measure
            result = asyncio.run(runner(server, args, layout))
        finally:
            server.stop()
            for spy in spies:
                spy.wait(timeout=30)
        print(json.dumps(result, indent=1), flush=True)
        results.append(result)
        time.sleep(2)
    summarize(results, args)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
