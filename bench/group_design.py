#!/usr/bin/env python
"""Publishing one chat message to a room's sockets: one group per conversation, or one
group per member (user)? Measured on the real channels-redis layer, by hand:

    .venv/bin/python bench/group_design.py --members 100 --messages 200

(a) per conversation: one `group_send` to `conv.<id>`, whose group holds every member's
    socket; (b) per user: one `group_send` to each member's `user.<id>` group. Both
    deliver the same events to the same channels; the script times the publisher and
    checks every channel received every event.
"""

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "messaging_site.settings.dev")
os.environ.setdefault("REDIS_KEY_PREFIX", f"bench-groups-{os.getpid()}")


async def run(members: int, messages: int) -> dict:
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    channels = [await layer.new_channel() for _ in range(members)]
    await asyncio.gather(*(layer.group_add("conv.1", c) for c in channels))
    await asyncio.gather(*(layer.group_add(f"user.{n}", c) for n, c in enumerate(channels)))
    event = {"type": "chat.message", "text": "x" * 300}
    results = {}
    for design in ("per conversation", "per user"):
        timings = []
        for _ in range(messages):
            started = time.perf_counter()
            if design == "per conversation":
                await layer.group_send("conv.1", event)
            else:
                for n in range(members):
                    await layer.group_send(f"user.{n}", event)
            timings.append(time.perf_counter() - started)
            # Drain, so channel capacity never drops anything and each run starts empty.
            await asyncio.gather(*(layer.receive(c) for c in channels))
        timings.sort()
        results[design] = (
            statistics.median(timings) * 1000,
            timings[int(len(timings) * 0.99)] * 1000,
        )
    await layer.flush()
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=100)
    parser.add_argument("--messages", type=int, default=200)
    args = parser.parse_args()
    import django

    django.setup()
    results = asyncio.run(run(args.members, args.messages))
    print(f"publishing one message to {args.members} sockets, {args.messages} messages:")
    print("| design | p50 ms | p99 ms |")
    print("|---|---:|---:|")
    for design, (p50, p99) in results.items():
        print(f"| {design} | {p50:.2f} | {p99:.2f} |")


if __name__ == "__main__":
    main()
