#!/usr/bin/env python
"""Latency of the hot read paths against the benchmark database (bench/seed_messages.py).

Run by hand, never by the test suite:

    .venv/bin/python bench/read_paths.py                 # all paths, 1,000 samples each
    .venv/bin/python bench/read_paths.py --only inbox --samples 2000
    .venv/bin/python bench/read_paths.py --against 94ee21f^ --rounds 3   # old code vs today

`--against REV` times the same paths with the code of REV (a git worktree of it, made
under the temporary directory, with this script copied in) and with today's, alternated
`--rounds` times on the same database, each side in a process of its own, and prints
each round's p99 and p50 and the median of the per-round ratios (today / REV): the
machine's noise moves both sides of a round alike.

Each path is timed in-process, after a warm-up: history and board paths around the
selector calls, evaluation of the querysets included (list()), serialization excluded;
the history endpoint, the inbox and the conversation list as the whole endpoint (DRF
request in, rendered JSON bytes out, authentication forced), serialization included.
The inputs of every sample (which user, which conversation, which cursor) are drawn
before the clock starts. Then, for one representative call of each path,
every SQL statement it ran is captured with CaptureQueriesContext and re-run under
EXPLAIN (ANALYZE, BUFFERS); the slowest one (the "main" query) is printed in full, the
others as one line, with the scan nodes found.

Settings: messaging_site.settings.dev with DATABASE_URL pointed at the bench database,
DATABASE_POOL=off (one persistent connection, as a pooled worker holds) and DEBUG=False
(as in production: with DEBUG on, Django also records every query, which costs time).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_DB_URL = "postgres://postgres@127.0.0.1:5432/messaging_bench"
SCAN_RE = re.compile(
    r"(Seq Scan|Parallel Seq Scan|Index Only Scan Backward|Index Only Scan|Index Scan Backward"
    r"|Index Scan|Bitmap Heap Scan|Bitmap Index Scan)(?: using (\S+))? on (\S+)"
)
EXEC_RE = re.compile(r"Execution Time: ([\d.]+) ms")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--db-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB_URL))
    p.add_argument("--samples", type=int, default=1000, help="timed calls per path (>= 500)")
    p.add_argument("--warmup", type=int, default=100, help="untimed calls per path first")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--user", default="benchuser", help="inbox / conversation-list user")
    p.add_argument("--only", default="", help="comma-separated path keys (see --list)")
    p.add_argument("--list", action="store_true", help="list the path keys and exit")
    p.add_argument("--no-explain", action="store_true")
    p.add_argument("--explain-all", action="store_true", help="print every query's plan")
    p.add_argument("--against", default="", help="a git revision to alternate with today's code")
    p.add_argument("--rounds", type=int, default=3, help="alternated rounds for --against")
    return p.parse_args(argv)


def setup_django(db_url: str) -> None:
    os.environ["DATABASE_URL"] = db_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "messaging_site.settings.dev"
    os.environ["DATABASE_POOL"] = "off"
    os.environ["DEBUG"] = "False"
    import django

    django.setup()


# --- measurement --------------------------------------------------------------------------


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


@dataclass
class Path_:
    key: str
    label: str
    run: object  # callable(*args)
    draw: object  # callable() -> args, drawn outside the timed region
    explain_args: tuple = ()
    times_ms: list[float] = field(default_factory=list)
    queries: int = 0
    rows: str = ""
    plans: list = field(default_factory=list)  # (exec_ms, sql, plan_text)

    def measure(self, samples: int, warmup: int) -> None:
        for _ in range(warmup):
            self.run(*self.draw())
        inputs = [self.draw() for _ in range(samples)]
        clock = time.perf_counter_ns
        times = []
        for args in inputs:
            start = clock()
            self.run(*args)
            times.append((clock() - start) / 1e6)
        self.times_ms = times

    def stats(self) -> dict:
        values = sorted(self.times_ms)
        return {
            "n": len(values),
            "mean": statistics.fmean(values),
            "p50": percentile(values, 50),
            "p95": percentile(values, 95),
            "p99": percentile(values, 99),
            "max": values[-1],
        }


def explain(path: Path_) -> None:
    from unittest import mock

    from django.db import connection
    from django.db.backends.postgresql.base import Cursor as ClientBindingCursor
    from django.test.utils import CaptureQueriesContext

    # Statements bind on the server, so the captured text holds $1..$n and cannot be
    # re-run; for EXPLAIN they go through Django's client-side cursor, which inlines the
    # values (a custom plan for them, where production reuses a generic one).
    connection.ensure_connection()
    with (
        mock.patch.object(connection.connection, "cursor_factory", ClientBindingCursor),
        CaptureQueriesContext(connection) as ctx,
    ):
        result = path.run(*path.explain_args)
    path.queries = len(ctx.captured_queries)
    path.rows = describe(result)
    plans = []
    with connection.cursor() as cursor:
        for query in ctx.captured_queries:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + query["sql"])
            text = "\n".join(row[0] for row in cursor.fetchall())
            match = EXEC_RE.search(text)
            plans.append((float(match.group(1)) if match else 0.0, query["sql"], text))
    path.plans = plans


def describe(result) -> str:
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], bool):
        return f"{len(result[0])} rows, has_more={result[1]}"
    if isinstance(result, list):
        return f"{len(result)} rows"
    return ""


def scans(plan_text: str) -> list[str]:
    found = []
    for kind, index, table in SCAN_RE.findall(plan_text):
        item = f"{kind} {'using ' + index + ' ' if index else ''}on {table}"
        if item not in found:
            found.append(item)
    return found


def index_verdict(path: Path_) -> str:
    seq = sorted({s.split(" on ")[1] for _, _, plan in path.plans for s in scans(plan)
                  if s.startswith(("Seq Scan", "Parallel Seq Scan"))})  # fmt: skip
    if not path.plans:
        return "n/a"
    return "index scans only" if not seq else "Seq Scan on " + ", ".join(seq)


# --- the paths ----------------------------------------------------------------------------


def build_paths(args) -> list[Path_]:
    from django.contrib.auth import get_user_model
    from django.db.models import Count
    from rest_framework.test import APIRequestFactory, force_authenticate
    from seed_messages import WORDS

    from boards import selectors as board_selectors
    from boards.models import Board, BoardMessage
    from chat import listing, selectors
    from chat import views as chat_views
    from chat.models import Conversation, Membership
    from chat.views import ConversationListView, InboxView, MessageListView

    # Absent from code before search (as --against runs it): the path is then left out.
    SearchView = getattr(chat_views, "SearchView", None)

    User = get_user_model()
    rnd = random.Random(args.seed)
    bench_user = User.objects.get(username=args.user)

    # Random (member, conversation) pairs for history: a pool of approved memberships.
    pool = list(
        Membership.objects.filter(status=Membership.Status.APPROVED)
        .select_related("user", "conversation")
        .order_by("?")[:3000]
    )
    hottest = Conversation.objects.order_by("-last_seq").first()
    hot_members = [
        m.user
        for m in Membership.objects.filter(
            conversation=hottest, status=Membership.Status.APPROVED
        ).select_related("user")
    ]
    print(
        f"hottest conversation #{hottest.pk} ({hottest.kind}): {hottest.last_seq:,} messages, "
        f"{len(hot_members)} members"
    )

    def history(user, conversation, before_seq=None):
        return selectors.message_page(
            user=user, conversation=conversation, before_seq=before_seq, limit=50
        )

    def history_view(user, conversation_id):
        conversation, _ = selectors.conversation_for_reader(
            user=user, conversation_id=conversation_id
        )
        return selectors.message_page(user=user, conversation=conversation, limit=50)

    def draw_random():
        m = rnd.choice(pool)
        return (m.user, m.conversation)

    def draw_hot():
        return (rnd.choice(hot_members), hottest)

    deep_hi = max(100, hottest.last_seq // 4)

    def draw_hot_deep():
        return (rnd.choice(hot_members), hottest, rnd.randint(100, deep_hi))

    def draw_random_view():
        m = rnd.choice(pool)
        return (m.user, m.conversation_id)

    factory = APIRequestFactory()

    def view_call(view, path):
        """The whole endpoint in-process: DRF request, the page, JSON bytes (no HTTP)."""

        def call(user, **kwargs):
            request = factory.get(path.format(**kwargs), HTTP_HOST="localhost")
            force_authenticate(request, user=user)
            response = view(request, **kwargs)
            response.render()
            return response

        return call

    inbox = view_call(InboxView.as_view(), "/api/inbox/")
    message_list = view_call(
        MessageListView.as_view(), "/api/conversations/{conversation_id}/messages/"
    )

    def history_endpoint(user, conversation_id):
        return message_list(user, conversation_id=conversation_id)

    def draw_hot_view():
        return (rnd.choice(hot_members), hottest.pk)

    conversation_list = view_call(ConversationListView.as_view(), "/api/conversations/")

    def inbox_page(user):
        """The page alone (chat.listing): the statement and the JSON text, no DRF."""
        return listing.conversation_page(user=user, cursor=None, limit=50, inbox=True)

    # Boards: the biggest board (worst case), every topic, its posters, its oldest posts.
    big = Board.objects.annotate(n=Count("messages")).order_by("-n").first()
    topics = list(BoardMessage.objects.filter(board=big).values_list("topic", flat=True).distinct())
    posters = list(
        BoardMessage.objects.filter(board=big).values_list("user_id", flat=True).distinct()
    )
    ids = list(BoardMessage.objects.filter(board=big).order_by("id").values_list("id", flat=True))
    deep_ids = ids[100 : max(101, len(ids) // 10)]  # within the oldest 10%
    print(
        f"biggest board #{big.pk}: {big.n:,} posts, {len(topics)} topics, {len(posters):,} posters"
    )
    boards_all = list(Board.objects.all())

    def board_page(board, topic=None, user_id=None, before=None):
        return board_selectors.board_messages(
            board=board, topic=topic, user_id=user_id, before=before, limit=50
        )

    def conversations_and_unread(user) -> tuple[int, list[int]]:
        """How many conversations the user is in, and the unread count of each that has
        unread messages (every page of the inbox)."""
        conversations = Membership.objects.filter(user=user, status="approved").count()
        unread, cursor = [], None
        while True:
            page = listing.conversation_page(user=user, cursor=cursor, limit=200, inbox=True)
            unread += [entry["unread"] for entry in json.loads(page.results)]
            if page.next is None:
                return conversations, unread
            cursor = page.next

    n_conv, unread = conversations_and_unread(bench_user)
    n_inbox = len(unread)
    print(f"{args.user}: {n_conv} conversations, {n_inbox} with unread messages")
    heavy = heaviest_reader()
    heavy_conv, unread = conversations_and_unread(heavy)
    heavy_unread = sum(unread)
    print(f"heaviest reader {heavy.username}: {heavy_conv} conversations, {heavy_unread:,} unread")

    # Search: the whole endpoint, as typed: one word, two words, the start of a word (as
    # while typing), and a word no message has; the words are the seeder's, each in about
    # 1 message in 20, so a page fills from any conversation.
    search_view = SearchView.as_view() if SearchView else None
    rare_stems = {"the", "be", "to", "of", "and", "a", "in", "that", "have", "it", "for"}
    vocabulary = [w for w in WORDS if w not in rare_stems and len(w) > 3]

    def draw_search():
        shape = rnd.randrange(4)
        if shape == 0:
            q = rnd.choice(vocabulary)
        elif shape == 1:
            q = " ".join(rnd.sample(vocabulary, 2))
        elif shape == 2:
            word = rnd.choice(vocabulary)
            q = word[: rnd.randint(2, len(word) - 1)]
        else:
            q = f"zq{rnd.randrange(10**6)}"
        return (bench_user, quote(q))

    def search_call(user, q):
        request = factory.get(f"/api/search/?q={q}", HTTP_HOST="localhost")
        force_authenticate(request, user=user)
        response = search_view(request)
        response.render()
        return response

    sample_member = pool[0]
    paths = [
        Path_("history_random", "history: newest page, random conversation", history,
              draw_random, (sample_member.user, sample_member.conversation)),
        Path_("history_hot", f"history: newest page, hottest ({hottest.last_seq:,} msgs)",
              history, draw_hot, (hot_members[0], hottest)),
        Path_("history_hot_deep", "history: before_seq page deep in hottest", history,
              draw_hot_deep, (hot_members[0], hottest, deep_hi // 2)),
        Path_("history_view", "history + membership check (view reads), random", history_view,
              draw_random_view, (sample_member.user, sample_member.conversation_id)),
        Path_("history_endpoint", "history endpoint (REST, JSON bytes), random",
              history_endpoint, draw_random_view,
              (sample_member.user, sample_member.conversation_id)),
        Path_("history_endpoint_hot", "history endpoint (REST, JSON bytes), hottest",
              history_endpoint, draw_hot_view, (hot_members[0], hottest.pk)),
        Path_("inbox", f"inbox of {args.user} ({n_conv} convs, {n_inbox} unread)", inbox,
              lambda: (bench_user,), (bench_user,)),
        *([Path_("search", f"search of {args.user} ({n_conv} convs), endpoint whole",
                 search_call, draw_search, (bench_user, "deploy"))] if SearchView else []),
        Path_("inbox_page", f"inbox page alone (chat.listing), {args.user}", inbox_page,
              lambda: (bench_user,), (bench_user,)),
        Path_("conversations", f"conversation list of {args.user} (first 50)",
              conversation_list, lambda: (bench_user,), (bench_user,)),
        Path_("inbox_heavy", f"inbox of {heavy.username} ({heavy_conv} convs, "
              f"{heavy_unread:,} unread msgs)", inbox, lambda: (heavy,), (heavy,)),
        Path_("conversations_heavy", f"conversation list of {heavy.username}",
              conversation_list, lambda: (heavy,), (heavy,)),
        Path_("board_newest", f"board: newest page (biggest board, {big.n:,} posts)",
              board_page, lambda: (big,), (big,)),
        Path_("board_newest_any", "board: newest page, random board", board_page,
              lambda: (rnd.choice(boards_all),), (boards_all[0],)),
        Path_("board_topic", "board: topic filter (biggest board)", board_page,
              lambda: (big, rnd.choice(topics)), (big, topics[-1])),
        Path_("board_user", "board: user filter (biggest board)", board_page,
              lambda: (big, None, rnd.choice(posters)), (big, None, posters[0])),
        Path_("board_deep", "board: deep `before` page (biggest board)", board_page,
              lambda: (big, None, None, rnd.choice(deep_ids)), (big, None, None, deep_ids[0])),
    ]  # fmt: skip
    return paths


def heaviest_reader():
    """The user with the most messages behind their read cursors (worst inbox)."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT m.user_id FROM chat_membership m
            JOIN chat_conversation c ON c.id = m.conversation_id
            WHERE m.status = 'approved'
            GROUP BY m.user_id ORDER BY sum(c.last_seq - m.read_seq) DESC, m.user_id LIMIT 1
            """
        )
        return get_user_model().objects.get(pk=cursor.fetchone()[0])


def source_fingerprint() -> str:
    """Which version of the code under test ran (no git here): short hashes and times."""
    import hashlib
    from datetime import UTC, datetime

    parts = []
    for name in ("chat/selectors.py", "chat/models.py", "chat/views.py", "boards/selectors.py",
                 "boards/models.py"):  # fmt: skip
        path = ROOT / name
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:10]
        when = datetime.fromtimestamp(path.stat().st_mtime, UTC).strftime("%H:%M:%S")
        parts.append(f"{name} {digest} ({when} UTC)")
    return "; ".join(parts)


def applied_migrations() -> str:
    from django.db.migrations.recorder import MigrationRecorder

    rows = MigrationRecorder.Migration.objects.filter(app__in=["chat", "boards"])
    return ", ".join(sorted(f"{r.app}.{r.name}" for r in rows))


# --- report -------------------------------------------------------------------------------


TIMING_RE = re.compile(r"^  (\S+)\s+n=\d+ p50=([\d.]+) p95=[\d.]+ p99=([\d.]+) ms", re.M)


def worktree(revision: str) -> Path:
    """A checkout of `revision` with today's version of this script in it."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short", revision], cwd=ROOT, check=True,
        capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    # Outside this tree: ruff, mypy and pytest would find it inside.
    tree = Path(tempfile.gettempdir()) / "messaging-bench-worktrees" / commit
    if not tree.exists():
        subprocess.run(
            ["git", "worktree", "add", "--detach", "--force", str(tree), commit],
            cwd=ROOT, check=True, capture_output=True,
        )  # fmt: skip
    shutil.copy(Path(__file__), tree / "bench" / "read_paths.py")
    return tree


def alternate(args) -> None:
    """`--against`: REV and today, `--rounds` times, then the per-round ratios."""
    trees = {"before": worktree(args.against), "after": ROOT}
    passed = [f"--db-url={args.db_url}", f"--samples={args.samples}", f"--warmup={args.warmup}",
              f"--seed={args.seed}", f"--user={args.user}", f"--only={args.only}"]  # fmt: skip
    timings: dict[str, dict[str, list[tuple[float, float]]]] = {}
    for round_ in range(1, args.rounds + 1):
        for side, tree in trees.items():
            print(f"=== round {round_}: {side} ({tree}) {time.strftime('%H:%M:%S')}", flush=True)
            run = subprocess.run(
                [sys.executable, "bench/read_paths.py", "--no-explain", *passed],
                cwd=tree, check=True, capture_output=True, text=True,
            )  # fmt: skip
            print(run.stdout.strip(), flush=True)
            for key, p50, p99 in TIMING_RE.findall(run.stdout):
                timings.setdefault(key, {}).setdefault(side, []).append((float(p50), float(p99)))
    print(f"\n| path | {args.against} p99 ms | today p99 ms | p99 ratio | p50 ratio |")
    print("|---|---|---|---:|---:|")
    for key, sides in timings.items():
        before, after = sides["before"], sides["after"]
        pairs = list(zip(before, after, strict=True))
        p99 = statistics.median(a[1] / b[1] for b, a in pairs)
        p50 = statistics.median(a[0] / b[0] for b, a in pairs)
        print(
            f"| {key} | {' / '.join(f'{b[1]:.2f}' for b in before)} "
            f"| {' / '.join(f'{a[1]:.2f}' for a in after)} | {p99:.2f} | {p50:.2f} |"
        )


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.against:
        alternate(args)
        return
    setup_django(args.db_url)
    from django.conf import settings
    from django.db import connection

    print(f"database: {args.db_url}  (DEBUG={settings.DEBUG})")
    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        print(cursor.fetchone()[0])
        for name in ("shared_buffers", "work_mem", "effective_cache_size", "jit"):
            cursor.execute(f"SHOW {name}")
            print(f"  {name} = {cursor.fetchone()[0]}")
    print(f"code: {source_fingerprint()}")
    print(f"bench database migrations: {applied_migrations()}")
    print(f"load average before: {os.getloadavg()}, cpus: {os.cpu_count()}")
    paths = build_paths(args)
    if args.list:
        for p in paths:
            print(f"  {p.key:<18} {p.label}")
        return
    if args.only:
        wanted = set(args.only.split(","))
        paths = [p for p in paths if p.key in wanted]

    for p in paths:
        start = time.perf_counter()
        p.measure(args.samples, args.warmup)
        s = p.stats()
        print(
            f"  {p.key:<18} n={s['n']} p50={s['p50']:.2f} p95={s['p95']:.2f} "
            f"p99={s['p99']:.2f} ms  ({time.perf_counter() - start:.1f} s)",
            flush=True,
        )

    print(f"load average after timing: {os.getloadavg()}")
    if not args.no_explain:
        for p in paths:
            explain(p)
            print(f"\n### {p.key}: {p.label}")
            print(f"{p.queries} queries, result: {p.rows}; {index_verdict(p)}")
            main_plan = max(p.plans, key=lambda x: x[0]) if p.plans else None
            for plan in p.plans:
                if plan is main_plan or args.explain_all:
                    print(f"\n-- {'main ' if plan is main_plan else ''}query "
                          f"({plan[0]:.3f} ms):\n{plan[1]}\n{plan[2]}")  # fmt: skip
                else:
                    print(f"-- other query ({plan[0]:.3f} ms): {'; '.join(scans(plan[2]))}")

    print("\n| path | samples | queries | p50 ms | p95 ms | p99 ms | max ms | plans |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for p in paths:
        s = p.stats()
        print(
            f"| {p.label} | {s['n']} | {p.queries or '-'} | {s['p50']:.2f} | {s['p95']:.2f} "
            f"| {s['p99']:.2f} | {s['max']:.2f} | {index_verdict(p)} |"
        )


if __name__ == "__main__":
    main()
