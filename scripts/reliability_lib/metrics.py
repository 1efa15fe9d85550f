"""What the gateway saw, reduced to the figures the goals are about."""

import statistics
from collections import Counter
from dataclasses import dataclass

LIMIT = 45


def windows_over(arrivals: list[tuple[float, int]], limit: int = LIMIT, width: float = 1.0):
    """One-second windows [t, t + 1) anchored at each arrival: how many hold more than
    `limit` segments, and the most any holds."""
    arrivals = sorted(arrivals)
    over = worst = total = end = 0
    previous = None
    for start, (anchor, _) in enumerate(arrivals):
        while end < len(arrivals) and arrivals[end][0] < anchor + width:
            total += arrivals[end][1]
            end += 1
        worst = max(worst, total)
        over += total > limit and anchor != previous  # two arrivals at one instant: one window
        previous = anchor
        total -= arrivals[start][1]
    return over, worst


def worst_window(arrivals: list[tuple[float, int]], width: float = 1.0):
    """The fullest window: (its anchor, [(offset from the anchor, segments), ...])."""
    arrivals = sorted(arrivals)
    best, best_total = None, -1
    for anchor, _ in arrivals:
        inside = [(t - anchor, s) for t, s in arrivals if anchor <= t < anchor + width]
        total = sum(s for _, s in inside)
        if total > best_total:
            best, best_total = (anchor, inside), total
    return best


def sustained_rate(arrivals: list[tuple[float, int]]) -> float:
    """Segments per second from the first arrival to the last, leaving out the last
    arrival's own segments (its slot ends after the span): a limiter pacing exactly at
    the limit scores exactly the limit."""
    arrivals = sorted(arrivals)
    if len(arrivals) < 2:
        return 0.0
    span = arrivals[-1][0] - arrivals[0][0]
    return (sum(s for _, s in arrivals) - arrivals[-1][1]) / span if span > 0 else 0.0


@dataclass
class Delivery:
    """The gateway's view of one set of references."""

    expected: int
    lost: int
    duplicated: int
    accepted: list  # (arrived, segments) of each 200
    every: list  # (arrived, segments) of every request, 503s included
    first: float | None
    last: float | None
    twice: list  # the references that arrived (200) more than once


def delivery(records: list, references: set[str]) -> Delivery:
    mine = [r for r in records if r[1] in references]
    accepted = [r for r in mine if r[3] == 200]
    counts = Counter(r[1] for r in accepted)
    times = [r[0] for r in accepted]
    return Delivery(
        expected=len(references),
        lost=len(references - set(counts)),
        duplicated=sum(1 for n in counts.values() if n > 1),
        accepted=[(r[0], r[2]) for r in accepted],
        every=[(r[0], r[2]) for r in mine],
        first=min(times) if times else None,
        last=max(times) if times else None,
        twice=sorted((ref for ref, n in counts.items() if n > 1), key=int),
    )


def next_arrival_after(records: list, moment: float) -> float | None:
    later = [r[0] for r in records if r[0] >= moment]
    return min(later) if later else None


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None
