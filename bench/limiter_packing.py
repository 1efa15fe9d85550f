#!/usr/bin/env python
"""The best any limiter could do with a given order of messages and number of senders.

Run by hand:

    .venv/bin/python bench/limiter_packing.py            # 1/2/3 segments at random
    .venv/bin/python bench/limiter_packing.py \
        --arrivals /tmp/reliability-*/logs/rate-2w-arrivals.txt

An ideal schedule: N senders each hold the next message of the order; whichever holder's
message fits first departs at that exact moment (no wake-up late, no bookkeeping) and
takes the next message. Every window of W = 1 s + guard holds at most the limit. The
share of the limit it reaches is the ceiling that packing alone allows: a three-segment
message must wait for three units of room, and the room freed meanwhile stays idle unless
a smaller message is at hand. `--arrivals` takes the sizes, in order, from the file that
`make reliability` writes beside its logs for the rate scenarios (offset, segments per
line), so a run's figure can be set against its ceiling.
"""

import argparse
import random
import sys
from pathlib import Path


def ceiling(sizes: list[int], senders: int, limit: int, window_us: int) -> float:
    """Sustained share of the limit (the measure of scripts/reliability_lib/metrics.py:
    segments less the last's, over first to last departure)."""
    departures: list[tuple[int, int]] = []

    def fits(t: int, k: int) -> bool:
        recent = [(p, s) for p, s in departures[-4 * limit :] if p > t - 2 * window_us]
        starts = [t - window_us + 1] + [p for p, _ in recent if t - window_us < p <= t]
        return all(sum(s for p, s in recent if x <= p < x + window_us) + k <= limit for x in starts)

    def earliest(k: int, now: int) -> int:
        if fits(now, k):
            return now
        for p, _ in departures[-4 * limit :]:
            if p + window_us > now and fits(p + window_us, k):
                return p + window_us
        raise AssertionError("a message never fits")  # sizes are at most the limit

    held, following, now = sizes[:senders], senders, 0
    while held:
        now, index = min((earliest(k, now), i) for i, k in enumerate(held))
        departures.append((now, held[index]))
        if following < len(sizes):
            held[index] = sizes[following]
            following += 1
        else:
            held.pop(index)
    span_s = (departures[-1][0] - departures[0][0]) / 1e6
    return (sum(k for _, k in departures) - departures[-1][1]) / span_s / limit


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--arrivals", type=Path, help="offset and segments per line, in order")
    parser.add_argument("--messages", type=int, default=1200, help="random order: how many")
    parser.add_argument("--senders", type=int, nargs="+", default=[1, 4, 8, 16])
    parser.add_argument("--guard-ms", type=float, nargs="+", default=[0, 6, 10, 25])
    parser.add_argument("--limit", type=int, default=45)
    args = parser.parse_args(argv)
    if args.arrivals:
        rows = [line.split() for line in args.arrivals.read_text().splitlines() if line]
        sizes = [int(float(k)) for _, k in sorted(rows, key=lambda r: float(r[0]))]
        source = f"{args.arrivals} ({len(sizes)} messages, in arrival order)"
    else:
        rnd = random.Random(1)
        sizes = [rnd.choice([1, 2, 3]) for _ in range(args.messages)]
        source = f"{len(sizes)} messages of 1, 2 or 3 segments at random"
    print(f"ceiling of the sustained rate, % of {args.limit}/s: {source}")
    print("senders | " + " | ".join(f"guard {g:g} ms" for g in args.guard_ms))
    for senders in args.senders:
        shares = [
            ceiling(sizes, senders, args.limit, int(1_000_000 + g * 1000)) for g in args.guard_ms
        ]
        print(f"{senders:7d} | " + " | ".join(f"{100 * share:11.2f}%" for share in shares))


if __name__ == "__main__":
    main(sys.argv[1:])
