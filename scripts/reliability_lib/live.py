"""The scenarios with Daphne: campaign progress frames, Redis outages under open sockets,
and a PostgreSQL restart under REST load and a campaign."""

import asyncio
import itertools
import threading
import time
from collections import Counter

from . import app
from .context import Context, Row, fmt_s, wait_until
from .metrics import next_arrival_after
from .sms import _campaign, _delivery_columns, _first_arrival
from .sockets import Recorder, Rest, ws_url

PROGRESS_GAP_GOAL = 1.2
DELIVERY_WINDOW = 2.0
OUTAGE_SECONDS = 3.0
# The user write throttle is a Redis script: with it on, REST writes fail (503) or wait
# while Redis is away, and nothing is committed for the sockets to miss. The delivery path
# is what this scenario measures, so its stack runs with throttles off.
SOCKET_THROTTLES = "off"
HANG_SECONDS = 10.0


# --- progress ---------------------------------------------------------------------------


def progress(ctx: Context, texts: int = 600) -> Row:
    """The owner watches a campaign of `texts` one-segment texts (about 13 s of backlog)."""
    row = Row("progress", f"{texts} texts (1 seg), 2 workers; owner socket watching")
    with ctx.stack(2, web=True) as stack:
        ids, refs = _campaign([(1, texts)], chunk=texts)
        token = app.token_for(app.admin_user())
        frames, launched = asyncio.run(_watch(stack.base_url, token, ids[0], ctx.drain_timeout))
        drained = app.wait_drained(ids, 10)
    result = _delivery_columns(row, ctx, refs, ids, drained)
    final = next((t for t, f in frames if f["status"] != "running"), None)
    running = [t for t, f in frames if final is None or t <= final]
    end = final if final is not None else (result.last or launched)
    moments = [launched, *running] + ([] if final is not None else [end])
    gaps = [b - a for a, b in itertools.pairwise(moments)]
    worst = max(gaps, default=None)
    row.recovery = f"max gap {fmt_s(worst)}"
    row.figures = (
        f"{len(running)} frames; final frame: "
        + ("yes" if final is not None else "NO")
        + f"; drain {fmt_s((result.last or launched) - launched)}"
    )
    row.goal(worst is not None and worst <= PROGRESS_GAP_GOAL, f"gap {fmt_s(worst)} > 1.2 s")
    row.goal(final is not None, "no final frame at completion")
    return row


async def _watch(base_url: str, token: str, campaign_id: int, seconds: float):
    """Watch, launch, and collect campaignProgress frames (after the launch) until one
    says the campaign is no longer running."""
    socket = await Recorder("owner", ws_url(base_url, token)).open()
    await socket.send({"action": "watchCampaign", "campaignId": campaign_id, "requestId": "w"})
    if await socket.wait_for(lambda f: f.get("requestId") == "w", 10) is None:
        raise RuntimeError("watchCampaign got no answer")
    launched = await asyncio.to_thread(app.launch, [campaign_id])

    def progress_frames():
        return [
            (t, f)
            for t, f in socket.frames
            if f.get("action") == "campaignProgress" and f.get("requestId") is None and t > launched
        ]

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and socket.closed_at is None:
        if any(f["status"] != "running" for _, f in progress_frames()):
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(1.5)  # a late frame still counts; the gaps stop at the final one
    await socket.close()
    return progress_frames(), launched


# --- Redis outage under open sockets ------------------------------------------------------


def redis_outage_sockets(ctx: Context, variant: str, runs: int) -> Row:
    """`runs` outages of `variant` ("pause": SIGSTOP/SIGCONT; "restart": SIGKILL and an
    empty restart) under 11 open sockets, writes made through REST meanwhile."""
    row = Row(
        f"redis-{variant}-sockets",
        f"{runs} runs; 11 sockets, 1 add + 3 posts during 3 s; THROTTLES={SOCKET_THROTTLES}",
    )
    users = app.users_with_tokens("rel-sock-", 11)
    results = []
    with ctx.stack(2, web=True, warm=False, throttles=SOCKET_THROTTLES) as stack:
        for run in range(runs):
            results.append(asyncio.run(_outage_run(ctx, stack.base_url, users, variant, run)))
    missing = sum(r["missing"] for r in results)
    late = sum(r["final_missing"] for r in results)
    closes = sum(r["closed"] for r in results)
    committed = sum(r["committed"] for r in results)
    early = sum(r["before_back"] for r in results)
    baseline = sum(r["baseline_missing"] for r in results)
    row.lost = f"{missing} events"
    row.recovery = f"{missing} missing 2 s after"
    row.figures = (
        f"per run missing {[r['missing'] for r in results]}; next post missing {late}; "
        f"sockets closed {closes}; writes 201 {committed}/{4 * runs}, answered before Redis "
        f"was back {early}; fresh sockets missing the pre-fault post {baseline}"
        f" (statuses {dict(sum((r['statuses'] for r in results), Counter()))})"
    )
    row.goal(missing == 0, f"{missing} events missing 2 s after the outage")
    row.goal(late == 0, f"{late} sockets missed the next post")
    row.goal(closes == 0, f"{closes} sockets closed by the server")
    row.goal(baseline == 0, f"{baseline} fresh sockets missed a post before the fault")
    row.goal(committed > 0, "nothing was committed during the outage (nothing to deliver)")
    keys = ("missing", "final_missing", "closed", "baseline_missing")
    for result in results:
        if any(result[k] for k in keys):
            ctx.notes.append(f"{row.scenario} run {result['run']}: {result}")
    return row


async def _outage_run(ctx: Context, base_url: str, users: list[dict], variant: str, run: int):
    admin = Rest(base_url, users[0]["token"])
    group = admin.post("/api/conversations/", {"kind": "group", "name": f"outage {variant} {run}"})
    if group.status != 201:
        raise RuntimeError(f"group create answered {group.status}: {group.body}")
    conversation = group.body["id"]
    for user in users[1:10]:
        added = admin.post(f"/api/conversations/{conversation}/members/", {"user_id": user["id"]})
        if added.status != 201:
            raise RuntimeError(f"member add answered {added.status}: {added.body}")
    sockets = [await Recorder(u["username"], ws_url(base_url, u["token"])).open() for u in users]
    try:
        await _ready(sockets)
        baseline = await _check_baseline(admin, conversation, sockets[:10])
        answers, back = await _outage(ctx, admin, conversation, users[10]["id"], variant)
        result = await _missing_after_outage(sockets, conversation, users[10]["id"], answers, back)
        added = any(name == "add" and a.status == 201 for name, a in answers)
        listening = sockets if added else sockets[:10]
        result["final_missing"] = await _final_post(admin, conversation, listening)
    finally:
        closed = sum(s.closed_at is not None for s in sockets)
        for socket in sockets:
            await socket.close()
    return {**result, "closed": closed, "run": run, "baseline_missing": baseline}


async def _ready(sockets: list[Recorder]) -> None:
    for n, socket in enumerate(sockets):
        await socket.send({"action": "ping", "requestId": f"p{n}"})
    for n, socket in enumerate(sockets):
        if await socket.wait_for(lambda f, n=n: f.get("requestId") == f"p{n}", 10) is None:
            raise RuntimeError(f"socket {socket.name} did not answer ping")


async def _check_baseline(admin: Rest, conversation: int, members: list[Recorder]) -> int:
    """Before this run's fault, a post to every member's fresh socket: how many missed it
    within 5 s (more than 0 means an earlier outage broke the server for new sockets)."""
    answer = await asyncio.to_thread(
        admin.post, f"/api/conversations/{conversation}/messages/", {"text": "before"}
    )
    if answer.status != 201:
        raise RuntimeError(f"baseline post answered {answer.status}: {answer.body}")
    missed = 0
    for socket in members:
        missed += await socket.wait_for(_is_message(answer.body["id"]), 5) is None
    return missed


async def _outage(ctx: Context, admin: Rest, conversation: int, newcomer: int, variant: str):
    """Redis unreachable for 3 s; meanwhile (in a thread) add the newcomer and post 3
    messages. Returns the answers and the monotonic time Redis answered again."""
    started = time.monotonic()
    if variant == "pause":
        ctx.redis.pause()
    else:
        ctx.redis.kill()

    def writes():
        path = f"/api/conversations/{conversation}/"
        out = [("add", admin.post(path + "members/", {"user_id": newcomer}))]
        for n in range(3):
            out.append((f"post{n}", admin.post(path + "messages/", {"text": f"during {n}"})))
        return out

    pending = asyncio.create_task(asyncio.to_thread(writes))
    await asyncio.sleep(max(0.0, started + OUTAGE_SECONDS - time.monotonic()))
    back = await asyncio.to_thread(ctx.redis.resume if variant == "pause" else ctx.redis.start)
    return await pending, back


def _is_message(message_id: int):
    return lambda f: f.get("action") == "message" and f.get("id") == message_id


def _is_membership(conversation: int, user_id: int):
    return lambda f: (
        f.get("action") == "membership"
        and f.get("conversationId") == conversation
        and f.get("userId") == user_id
        and f.get("status") == "approved"
    )


async def _missing_after_outage(sockets, conversation, newcomer, answers, back) -> dict:
    """Every write that got 201 must be on every socket by max(back, its answer) + 2 s;
    the membership change too (SPEC section 15). Frames are checked after the fact, from
    their recorded arrival times, once the last deadline has passed."""
    expected = []
    for name, answer in answers:
        if answer.status != 201:
            continue
        if name == "add":
            predicate = _is_membership(conversation, newcomer)
        else:
            predicate = _is_message(answer.body["id"])
        expected.append((name, predicate, max(back, answer.ended) + DELIVERY_WINDOW))
    last = max((d for _, _, d in expected), default=back + DELIVERY_WINDOW)
    await asyncio.sleep(max(0.0, last - time.monotonic()))  # the readers keep reading
    missing = []
    for name, predicate, deadline in expected:
        for socket in sockets:
            if not any(predicate(f) and t <= deadline for t, f in socket.frames):
                missing.append(f"{socket.name}:{name}")
    return {
        "missing": len(missing),
        "which": missing[:12],
        "committed": len(expected),
        "before_back": sum(a.status == 201 and a.ended < back for _, a in answers),
        "statuses": Counter(a.status for _, a in answers),
    }


async def _final_post(admin: Rest, conversation: int, sockets: list[Recorder]) -> int:
    """One more post after the outage: how many sockets did not get it within 2 s."""
    answer = await asyncio.to_thread(
        admin.post, f"/api/conversations/{conversation}/messages/", {"text": "after"}
    )
    if answer.status != 201:
        return len(sockets)
    await asyncio.sleep(max(0.0, answer.ended + DELIVERY_WINDOW - time.monotonic()))
    predicate = _is_message(answer.body["id"])
    deadline = answer.ended + DELIVERY_WINDOW
    return sum(not any(predicate(f) and t <= deadline for t, f in s.frames) for s in sockets)


# --- PostgreSQL restart -----------------------------------------------------------------


class Load(threading.Thread):
    """One REST client posting to a group once a second, each post with its own
    client_id; every answer kept with its timing."""

    def __init__(self, base_url: str, user: dict, conversation: int, stop: threading.Event):
        super().__init__(daemon=True)
        self.rest = Rest(base_url, user["token"])
        self.path = f"/api/conversations/{conversation}/messages/"
        self.prefix = f"{user['username']}-{time.monotonic_ns()}"
        self.stop_event = stop
        self.answers: list = []  # (client_id, Answer)

    def run(self) -> None:
        n = 0
        while not self.stop_event.is_set():
            started = time.monotonic()
            client_id = f"{self.prefix}-{n}"
            self.answers.append(
                (
                    client_id,
                    self.rest.post(self.path, {"text": f"load {n}", "client_id": client_id}),
                )
            )
            n += 1
            self.stop_event.wait(max(0.0, started + 1.0 - time.monotonic()))


def postgres_restart(ctx: Context, texts: int = 1500, clients: int = 5) -> Row:
    """REST load (5 posts/s) and a campaign; `pg_ctl stop -m immediate`, 5 s, start."""
    row = Row("postgres-restart", f"{texts} texts, 2 workers + {clients} posts/s REST; PG down 5 s")
    users = app.users_with_tokens("rel-pg-", clients)
    with ctx.stack(2, web=True) as stack:
        conversation = _group_of(stack.base_url, users)
        ids, refs = _campaign([(1, texts)], chunk=texts)
        stop = threading.Event()
        loads = [Load(stack.base_url, u, conversation, stop) for u in users]
        for load in loads:
            load.start()
        launched = app.launch(ids)
        wait_until(_first_arrival(ctx, refs) + 8)
        down = time.monotonic()
        ctx.postgres.stop("immediate")
        wait_until(down + 5)
        up = ctx.postgres.start()
        time.sleep(15)
        stop.set()
        for load in loads:
            load.join(30)
        drained = app.wait_drained(ids, ctx.drain_timeout)
    result = _delivery_columns(row, ctx, refs, ids, drained)
    answers = [a for load in loads for a in load.answers]
    _rest_during_outage(row, answers, down, up)
    resumed = next_arrival_after([r for r in ctx.gateway.records() if r[1] in refs], up)
    row.recovery += f"; next SMS {fmt_s(None if resumed is None else resumed - up)}"
    row.figures += f"; drain {fmt_s((result.last or launched) - launched)}"
    row.goal(resumed is not None and resumed - up <= 10, "no SMS within 10 s of PG back")
    return row


def _group_of(base_url: str, users: list[dict]) -> int:
    admin = Rest(base_url, app.token_for(app.admin_user()))
    group = admin.post("/api/conversations/", {"kind": "group", "name": "pg load"})
    for user in users:
        admin.post(f"/api/conversations/{group.body['id']}/members/", {"user_id": user["id"]})
    return group.body["id"]


def _rest_during_outage(row: Row, answers: list, down: float, up: float) -> None:
    during = [a for _, a in answers if a.started <= up and a.ended >= down]
    statuses = Counter(a.status if a.status is not None else a.error for a in during)
    hung = sum(a.ended - a.started > HANG_SECONDS for _, a in answers)
    worst = max((a.ended - a.started for a in during), default=0.0)
    ok_after = [a.ended for _, a in answers if a.status and a.status < 300 and a.ended >= up]
    first_ok = min(ok_after) - up if ok_after else None
    created = [cid for cid, a in answers if a.status == 201]
    lost = len(set(created) - app.messages_with_client_ids(created))
    row.recovery = f"first 2xx {fmt_s(first_ok)}"
    row.figures = (
        f"HTTP while down {dict(statuses)} (slowest {worst:.1f} s); {len(created)} posts 201, "
        f"{lost} missing from DB"
    )
    bad = {s: n for s, n in statuses.items() if not (s == 503 or (isinstance(s, int) and s < 300))}
    row.goal(not bad, f"while down: {bad} (goal: 503, never 500, no hang)")
    row.goal(hung == 0, f"{hung} requests took > {HANG_SECONDS:.0f} s")
    row.goal(lost == 0, f"{lost} posts answered 201 are not in the database")
    row.goal(first_ok is not None, "no 2xx after PG came back")
    row.lost = f"{row.lost} SMS, {lost} posts"
