#!/usr/bin/env python
"""Where the time of the slow read paths goes, and what two cheap changes would save.

Run by hand after bench/seed_messages.py (and ideally bench/read_paths.py):

    .venv/bin/python bench/breakdown.py

1. The inbox (InboxView's work before serializing, for `benchuser` and for the user the
   furthest behind), step by step: each step's p50 through the ORM, next to the p50 of the
   very same SQL statements run bare on the same connection (cursor.execute + fetchall),
   so the difference is Django's query building and model instantiation.
2. The inbox by page size (`?limit=` of the endpoint: 10, 20, 50 conversations), since
   its cost follows the number of rows it returns.
3. History as the messages view reads it (membership check + page) today, against a
   prototype that checks membership in one query (the membership with its conversation,
   select_related) instead of two; the prototype is checked to return the same page.

Nothing here is used by the application: these are measurements backing
docs/PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import read_paths as rp


def p50_ms(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def inbox_steps(user, limit: int = 50):
    """InboxView's work as (label, step) pairs; each step takes the previous one's output."""
    from django.test import RequestFactory
    from rest_framework.request import Request

    from chat import selectors
    from chat.views import ActivityPagination

    request = Request(RequestFactory().get(f"/api/inbox/?limit={limit}", HTTP_HOST="localhost"))
    takes_hidden = hasattr(selectors, "hidden_sender_ids")
    state: dict = {}

    def hidden(_):
        state["extra"] = {"hidden": selectors.hidden_sender_ids(user)} if takes_hidden else {}

    def page(_):
        return ActivityPagination().paginate_queryset(
            selectors.inbox_memberships(user, **state["extra"]), request
        )

    def summaries(rows):
        return selectors.attach_summaries(user=user, memberships=rows)

    def messages(rows):
        grouped = selectors.inbox_messages(
            user=user, conversation_ids=[m.conversation_id for m in rows], **state["extra"]
        )
        for membership in rows:
            membership.messages = grouped.get(membership.conversation_id, [])
        return rows

    steps = [("blocked senders", hidden), ("memberships page (unread, last message id)", page),
             ("attach_summaries (last messages, peers)", summaries),
             ("inbox_messages (50 per conversation) + senders", messages)]  # fmt: skip
    return steps if takes_hidden else steps[1:]


def run_inbox(user, limit: int = 50):
    value = None
    for _, step in inbox_steps(user, limit):
        value = step(value)
    return value


def breakdown(user, runs: int) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    print(f"\n### inbox of {user.username}: p50 of {runs} runs per step\n")
    print("| step | through the ORM, ms | same SQL bare, ms | queries | rows |")
    print("|---|---:|---:|---:|---:|")
    total_orm = total_bare = 0.0
    value = None
    for label, step in inbox_steps(user):
        given = value
        for _ in range(5):
            step(given)
        orm = p50_ms(lambda s=step, g=given: s(g), runs)
        with CaptureQueriesContext(connection) as ctx:
            value = step(given)
        rows = 0
        with connection.cursor() as cursor:
            for q in ctx.captured_queries:
                cursor.execute(q["sql"])
                rows += len(cursor.fetchall())

            def bare(queries=ctx.captured_queries):
                for q in queries:
                    cursor.execute(q["sql"])
                    cursor.fetchall()

            bare_ms = p50_ms(bare, runs)
        total_orm += orm
        total_bare += bare_ms
        print(f"| {label} | {orm:.2f} | {bare_ms:.2f} | {len(ctx.captured_queries)} | {rows} |")
    print(f"| **total** | **{total_orm:.2f}** | **{total_bare:.2f}** | | |")


def by_page_size(user, samples: int, warmup: int) -> None:
    print(f"\n### inbox of {user.username} by page size ({samples} samples each)\n")
    print("| limit | conversations | messages | p50 ms | p95 ms | p99 ms |")
    print("|---:|---:|---:|---:|---:|---:|")
    for limit in (10, 20, 50):
        page = run_inbox(user, limit)
        path = rp.Path_(f"inbox{limit}", "", lambda lim=limit: run_inbox(user, lim), lambda: ())
        path.measure(samples, warmup)
        s = path.stats()
        n_msgs = sum(len(m.messages) for m in page)
        print(f"| {limit} | {len(page)} | {n_msgs} | {s['p50']:.2f} | {s['p95']:.2f} "
              f"| {s['p99']:.2f} |")  # fmt: skip


def history_view_variants(samples: int, warmup: int, seed: int) -> None:
    from chat import selectors
    from chat.models import Membership
    from messaging_site.errors import NotFound

    rnd = random.Random(seed)
    pool = list(
        Membership.objects.filter(status=Membership.Status.APPROVED)
        .select_related("user")
        .order_by("?")[:3000]
    )

    def current(user, conversation_id):
        conversation, _ = selectors.conversation_get_for_member(
            user=user, conversation_id=conversation_id
        )
        return selectors.message_page(user=user, conversation=conversation, limit=50)

    def one_query_check(user, conversation_id):
        # Prototype: an approved member is recognised in one query; anyone else falls
        # back to the current code, which raises the right NotFound / Forbidden.
        membership = (
            Membership.objects.select_related("conversation")
            .filter(conversation_id=conversation_id, user=user, status=Membership.Status.APPROVED)
            .first()
        )
        if membership is None:
            selectors.conversation_get_for_member(user=user, conversation_id=conversation_id)
            raise NotFound("No such conversation.")
        return selectors.message_page(user=user, conversation=membership.conversation, limit=50)

    for m in pool[:200]:
        a = current(m.user, m.conversation_id)
        b = one_query_check(m.user, m.conversation_id)
        if [x.id for x in a[0]] != [x.id for x in b[0]] or a[1] != b[1]:
            sys.exit("the one-query prototype returned a different page")

    def draw():
        m = rnd.choice(pool)
        return (m.user, m.conversation_id)

    print(f"\n### history as the messages view reads it, random member ({samples} samples)\n")
    print("| variant | queries | p50 ms | p95 ms | p99 ms |")
    print("|---|---:|---:|---:|---:|")
    for label, fn, queries in (
        ("today: conversation_get_for_member + message_page", current, 3),
        ("prototype: membership+conversation in one query + message_page", one_query_check, 2),
    ):
        path = rp.Path_(label, label, fn, draw)
        path.measure(samples, warmup)
        s = path.stats()
        print(f"| {label} | {queries} | {s['p50']:.2f} | {s['p95']:.2f} | {s['p99']:.2f} |")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db-url", default=os.environ.get("BENCH_DATABASE_URL", rp.DEFAULT_DB_URL))
    parser.add_argument("--runs", type=int, default=200, help="runs per step (breakdown)")
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args(argv)
    rp.setup_django(args.db_url)
    from django.contrib.auth import get_user_model

    print(f"code: {rp.source_fingerprint()}")
    print(f"bench database migrations: {rp.applied_migrations()}")
    print(f"load average before: {os.getloadavg()}")
    users = [get_user_model().objects.get(username="benchuser"), rp.heaviest_reader()]
    for user in users:
        breakdown(user, args.runs)
    by_page_size(users[0], args.samples, args.warmup)
    history_view_variants(args.samples * 2, args.warmup, args.seed)
    print(f"\nload average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
