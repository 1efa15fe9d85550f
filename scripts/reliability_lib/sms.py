"""The SMS scenarios: rate under contention, a Redis restart, worker SIGKILLs, 503s.

Each returns one `Row` (or a list). Everything is measured at the gateway, on its clock
(`time.monotonic()`, shared by every process here); the database is checked afterwards.
"""

import itertools
import time

from . import app
from .context import Context, Row, fmt_s, wait_until
from .metrics import (
    LIMIT,
    delivery,
    median,
    next_arrival_after,
    sustained_rate,
    windows_over,
    worst_window,
)

MIXED_PLAN = [(1, 400), (2, 400), (3, 400)]


def _campaign(plan, chunk: int = 20) -> tuple[list[int], set[str]]:
    ids = app.create_campaigns(plan, chunk=chunk)
    return ids, app.references(ids)


def _first_arrival(ctx: Context, refs: set[str], timeout: float = 60) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        times = [r[0] for r in ctx.gateway.records() if r[1] in refs]
        if times:
            return min(times)
        time.sleep(0.05)
    raise RuntimeError("no SMS reached the gateway within 60 s of launch")


def _delivery_columns(row: Row, ctx: Context, refs: set[str], ids: list[int], drained: bool):
    """Fill lost, duplicated and windows; check the database too. Returns the delivery."""
    result = delivery(ctx.gateway.records(), refs)
    over, worst = windows_over(result.every)
    counts = app.status_counts(ids)
    row.lost = str(result.lost)
    row.duplicated = str(result.duplicated)
    row.windows = f"{over} (max {worst})"
    row.goal(result.lost == 0, f"{result.lost} never reached the gateway")
    row.goal(result.duplicated == 0, f"{result.duplicated} references arrived twice")
    if over:
        anchor, inside = worst_window(result.every)
        start = min(t for t, _ in result.every)
        ctx.notes.append(
            f"{row.scenario}: fullest window at +{anchor - start:.3f} s after the first arrival: "
            + ", ".join(f"{o * 1000:.0f}ms:{s}" for o, s in inside)
        )
    if result.twice:
        ctx.notes.append(f"{row.scenario}: references accepted twice: {result.twice[:20]}")
    if result.lost:
        missing = sorted(refs - {r[1] for r in ctx.gateway.records() if r[3] == 200}, key=int)
        ctx.notes.append(f"{row.scenario}: references never accepted: {missing[:20]}")
    row.goal(over == 0, f"{over} windows over {LIMIT}, worst {worst}")
    row.goal(drained, f"not drained within {ctx.drain_timeout:.0f} s: {counts}")
    row.goal(counts.get("sent", 0) == len(refs), f"database statuses {counts}")
    return result


def rate(ctx: Context, workers: int) -> Row:
    """No fault: about 1,200 texts of 1, 2 and 3 segments, two CPU hogs beside."""
    row = Row(f"rate-{workers}w", f"{sum(n for _, n in MIXED_PLAN)} texts (1/2/3 seg), "
              f"{workers} workers, {ctx.hogs} CPU hogs")  # fmt: skip
    with ctx.stack(workers), ctx.cpu_hogs(ctx.hogs):
        ids, refs = _campaign(MIXED_PLAN)
        launched = app.launch(ids)
        drained = app.wait_drained(ids, ctx.drain_timeout)
    result = _delivery_columns(row, ctx, refs, ids, drained)
    achieved = sustained_rate(result.accepted)
    segments = sum(s for _, s in result.accepted)
    # Kept beside the logs for a closer look at where the rate went (offset s, segments).
    (ctx.logs / f"{row.scenario}-arrivals.txt").write_text(
        "".join(f"{t - launched:.6f} {s}\n" for t, s in sorted(result.accepted))
    )
    times = sorted(t for t, _ in result.accepted)
    gap = max((b - a for a, b in itertools.pairwise(times)), default=0.0)
    row.figures = (
        f"{segments} seg; sustained {achieved:.2f}/s = {100 * achieved / LIMIT:.1f}% of {LIMIT}; "
        f"longest gap between arrivals {gap:.2f} s; "
        f"drain {fmt_s((result.last or launched) - launched)}"
    )
    row.goal(achieved >= 0.98 * LIMIT, f"sustained {100 * achieved / LIMIT:.1f}% < 98%")
    return row


def redis_restart(ctx: Context, texts: int = 1500) -> Row:
    """SIGKILL Redis 10 s into a campaign; restart it empty on the same port 3 s later."""
    row = Row("redis-restart", f"{texts} texts (1 seg), 2 workers; Redis SIGKILL, 3 s, empty")
    with ctx.stack(2):
        ids, refs = _campaign([(1, texts)], chunk=texts)
        launched = app.launch(ids)
        wait_until(_first_arrival(ctx, refs) + 10)
        killed = time.monotonic()
        ctx.redis.kill()
        wait_until(killed + 3)
        answered = ctx.redis.start()
        drained = app.wait_drained(ids, ctx.drain_timeout)
    result = _delivery_columns(row, ctx, refs, ids, drained)
    resumed = next_arrival_after(ctx.gateway.records(), answered)
    recovery = None if resumed is None else resumed - answered
    row.recovery = f"{fmt_s(recovery)} to next SMS"
    before = sum(t < killed for t, _ in result.accepted)
    row.figures = (
        f"{before} sent before the kill, outage {answered - killed:.1f} s; "
        f"drain {fmt_s((result.last or launched) - launched)}"
    )
    row.goal(recovery is not None and recovery <= 10, "no SMS within 10 s of Redis answering")
    return row


def _drain_run(ctx: Context, texts: int, kills: list[float] | None = None):
    """One campaign with 2 workers; `kills`: seconds after launch at which a worker's
    process group is SIGKILLed, and restarted 1 s later. Returns (row data)."""
    with ctx.stack(2) as stack:
        ids, refs = _campaign([(1, texts)], chunk=texts)
        launched = app.launch(ids)
        for n, offset in enumerate(kills or []):
            wait_until(launched + offset)
            stack.kill_worker(n % 2)
            time.sleep(1)
            stack.restart_worker(n % 2)
        drained = app.wait_drained(ids, ctx.drain_timeout)
    return ids, refs, launched, drained


def worker_kill(ctx: Context, texts: int = 900) -> Row:
    """Drain time without a fault, then with three SIGKILLs of a worker's process group."""
    row = Row("worker-kill", f"{texts} texts (1 seg), 2 workers; 3 x SIGKILL + restart 1 s")
    ids, refs, launched, drained = _drain_run(ctx, texts)
    base = delivery(ctx.gateway.records(), refs)
    baseline = (base.last or launched) - launched
    kills = [baseline * f for f in (0.25, 0.5, 0.75)]
    ids, refs, launched, drained = _drain_run(ctx, texts, kills)
    result = _delivery_columns(row, ctx, refs, ids, drained)
    faulted = (result.last or launched) - launched
    row.recovery = f"+{faulted - baseline:.1f} s drain"
    row.figures = (
        f"drain {baseline:.1f} s without, {faulted:.1f} s with kills at "
        + ", ".join(f"{k:.0f}" for k in kills)
        + f" s; {app.attempted_again(ids)} records attempted more than once"
    )
    row.goal(drained and faulted - baseline <= 30, f"drain +{faulted - baseline:.1f} s > 30 s")
    return row


# The first retry's delay (SMS_RETRY_BASE_SECONDS=1): [low, high] seconds.
EXPECTED = {5: (5.0, 5.0), None: (0.5, 1.0)}


def retry(ctx: Context, texts: int = 600, scripted: int = 20) -> Row:
    """503 to the first attempt of `scripted` references during a backlog: half with
    `Retry-After: 5`, half without. Delay from the 503 to the retry's arrival against the
    backoff: no header, first retry uniform in [0.5, 1] s; Retry-After 5, exactly 5 s."""
    row = Row("retry", f"{texts} texts (1 seg), 2 workers; 503 to {scripted} first attempts")
    with ctx.stack(2):
        ids, refs = _campaign([(1, texts)], chunk=texts)
        chosen = sorted(refs, key=int)[30 : 30 + 15 * scripted : 15][:scripted]
        script = {ref: [(503, 5 if n % 2 == 0 else None)] for n, ref in enumerate(chosen)}
        ctx.gateway.script(script)
        app.launch(ids)
        drained = app.wait_drained(ids, ctx.drain_timeout)
    records = ctx.gateway.records()
    _delivery_columns(row, ctx, refs, ids, drained)
    parts = []
    for header in EXPECTED:
        delays = _retry_delays(records, [r for r, a in script.items() if a[0][1] == header])
        low, high = EXPECTED[header]
        excess = [d - high for d in delays if d is not None]
        early = sum(d < low for d in delays if d is not None)
        missing = sum(d is None for d in delays)
        label = f"Retry-After {header}" if header else "no header"
        parts.append(
            f"{label}: excess max {_s(max(excess, default=None))}, "
            f"median {_s(median(excess))} (n={len(excess)}, early {early})"
        )
        row.goal(early == 0, f"{label}: {early} retries earlier than {low} s")
        row.goal(missing == 0, f"{label}: {missing} never retried")
        row.goal(max(excess, default=0) <= RETRY_SLACK, f"{label}: excess > {RETRY_SLACK} s")
    row.figures = "; ".join(parts)
    row.recovery = "see figures"
    return row


# Harness's own bound: a due retry waits behind the tasks in flight (SMS_MAX_IN_FLIGHT=60,
# about 1.3 s at 45/s) and for the next dispatch (tick: 1 s).
RETRY_SLACK = 3.0


def _retry_delays(records: list, references: list[str]) -> list[float | None]:
    """Per reference: from its 503 to its next arrival (None: it never came back)."""
    delays = []
    for reference in references:
        mine = sorted(r for r in records if r[1] == reference)
        first = next((i for i, r in enumerate(mine) if r[3] == 503), None)
        if first is None or first + 1 >= len(mine):
            delays.append(None)
        else:
            delays.append(mine[first + 1][0] - mine[first][0])
    return delays


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:+.2f} s"
