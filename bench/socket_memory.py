#!/usr/bin/env python
"""Where an idle socket's memory goes in the application, by the line that allocated it.

    .venv/bin/python bench/ws_fanout.py --idle 10000 --target ours   # makes the users
    .venv/bin/python bench/socket_memory.py --sockets 500

Opens `--sockets` sockets in this process with Channels' WebsocketCommunicator against the
product's ASGI application and the real Redis channel layer, on bench/ws_fanout.py's
database (its users and tokens), and compares tracemalloc snapshots before and after.
What it counts is the application's share (the consumer, its apps' state, Channels'
middleware and dispatch, the channel layer's per-socket queue) plus the communicator's
own two queues (about 6.5 KB, which Daphne replaces with one of its own); Daphne, Twisted
and Autobahn's per-connection objects are not in it: `bench/ws_fanout.py --idle`
measures the whole process.
"""

import argparse
import asyncio
import gc
import os
import sys
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import ws_fanout  # noqa: E402 - its database

SITE = str(Path(os.__file__).parent)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sockets", type=int, default=500)
    parser.add_argument("--lines", type=int, default=25)
    args = parser.parse_args()
    os.environ.update(
        DJANGO_SETTINGS_MODULE="messaging_site.settings.dev",
        DATABASE_URL=ws_fanout.DB_URL,
        DEBUG="0",
        THROTTLES="off",
    )
    import django

    django.setup()
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT key FROM authtoken_token ORDER BY user_id LIMIT %s", [args.sockets + 1]
        )
        keys = [row[0] for row in cursor.fetchall()]
    connection.close()
    if len(keys) <= args.sockets:
        raise SystemExit("Too few users: run bench/ws_fanout.py --idle N --target ours first.")
    asyncio.run(measure(keys, args))


async def measure(keys: list[str], args) -> None:
    from channels.testing import WebsocketCommunicator

    from messaging_site.asgi import application

    async def connect(key: str):
        socket = WebsocketCommunicator(application, f"/ws/?token={key}")
        connected, code = await socket.connect()
        if not connected:
            raise SystemExit(f"a socket was refused ({code})")
        return socket

    # One first, so that what is built once per process (imports, pools) is not counted.
    first = await connect(keys[-1])
    gc.collect()
    tracemalloc.start(25)
    before = tracemalloc.take_snapshot()
    sockets = [await connect(key) for key in keys[: args.sockets]]
    await asyncio.sleep(1)
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    n = args.sockets
    # Each allocation under the innermost frame outside the standard library: the line of
    # ours or of a library that asked for it.
    by_line: dict[str, int] = {}
    total = 0
    for stat in after.compare_to(before, "traceback"):
        total += stat.size_diff
        where = "(standard library only)"
        for frame in reversed(stat.traceback):
            if frame.filename.startswith(SITE) and "site-packages" not in frame.filename:
                continue
            name = frame.filename.split("site-packages/")[-1].replace(f"{ROOT}/", "")
            where = f"{name}:{frame.lineno}"
            break
        by_line[where] = by_line.get(where, 0) + stat.size_diff
    print(f"{n} sockets: {total / n / 1024:.1f} KB a socket in the application")
    for where, size in sorted(by_line.items(), key=lambda item: -item[1])[: args.lines]:
        print(f"  {size / n:7.0f} B  {where}")
    for socket in [first, *sockets]:
        await socket.disconnect()


if __name__ == "__main__":
    main()
