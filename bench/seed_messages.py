#!/usr/bin/env python
"""Fill a separate benchmark database with a large, realistic chat and boards dataset.

Run by hand, never by the test suite:

    .venv/bin/python bench/seed_messages.py --reset          # defaults: see --help

What it does:

1. creates the database (default `messaging_bench`) if it is missing (`--reset` drops it
   first), by connecting to the `postgres` database with psycopg;
2. runs Django `migrate` against it (DATABASE_URL pointed at it, DATABASE_POOL=off,
   settings `messaging_site.settings.dev`) for accounts, chat and boards and their
   dependencies (`--migrate-all`: every app);
3. empties the seeded tables, drops their secondary indexes and constraints, loads every
   table with PostgreSQL `COPY` (psycopg 3 `cursor.copy`), then recreates the indexes and
   constraints from their saved definitions (which also validates the generated data:
   foreign keys, the one-direct-per-pair unique index, the direct_low < direct_high check,
   the gapless `(conversation, seq)` uniqueness), all in one transaction;
4. resets the id sequences, runs `VACUUM (ANALYZE)`, and checks the invariants
   (gapless seq, `last_seq`/`last_message_at`, the bench user's 50 memberships).

Messages are inserted in global time order (interleaved across conversations, as a live
system writes them), not grouped per conversation, so a page of history touches as many
heap pages as it would in production.

Dataset (defaults): 2,000 users plus `benchuser`; 10,000 conversations (~70% direct
between distinct random pairs, ~20% groups, ~10% rooms); direct: 2 members, groups and
rooms: 3..30 approved members, the first one admin (rooms also get a few pending
requests); 1,000,000 messages with a Zipf-skewed spread over conversations (the hottest
holds ~10%), gapless seq 1..N per conversation; 2,000 blocks; read cursors leaving many
users with some unread messages; `benchuser` is an approved member of exactly 50
conversations (including the hottest) with unread messages in 35 of them. Section 12's
state, at rates a busy work chat shows: 10% of messages reply to one of the 20 before
them, 15% carry 1 to 3 emoji from 1 to 5 members, 3% mention a member (a `Mention` row,
the rendered span), 2% were edited once (a `MessageEdit` row); the newest 200 messages of
the hottest conversation all reply and all carry reactions (the worst history page).
Every message's `html` is rendered by chat.formatting, as a send stores it. Boards: 100
boards, 200,000 posts over ~20 topics by random users.
"""

from __future__ import annotations

import argparse
import collections
import itertools
import os
import random
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SERVER_URL = "postgres://postgres@127.0.0.1:5432"
BENCH_USERNAME = "benchuser"
PASSWORD = "bench-password-1"

# The tables this script loads, in load order (referenced tables first).
TABLES = [
    "accounts_user",
    "accounts_block",
    "chat_conversation",
    "chat_membership",
    "chat_message",
    "chat_messageedit",
    "chat_reaction",
    "chat_mention",
    "boards_board",
    "boards_boardmessage",
]

WORDS = [
    "the", "be", "to", "of", "and", "a", "in", "that", "have", "it", "for", "not", "on",
    "with", "he", "as", "you", "do", "at", "this", "but", "his", "by", "from", "they", "we",
    "say", "her", "she", "or", "an", "will", "my", "one", "all", "would", "there", "their",
    "what", "so", "up", "out", "if", "about", "who", "get", "which", "go", "me", "when",
    "make", "can", "like", "time", "no", "just", "him", "know", "take", "people", "into",
    "year", "your", "good", "some", "could", "them", "see", "other", "than", "then", "now",
    "look", "only", "come", "its", "over", "think", "also", "back", "after", "use", "two",
    "how", "our", "work", "first", "well", "way", "even", "new", "want", "because", "any",
    "these", "give", "day", "most", "us", "meeting", "lunch", "deploy", "review", "ticket",
    "build", "release", "coffee", "tomorrow", "friday", "weekend", "ok", "thanks", "sure",
    "great", "sounds", "plan", "call", "later", "soon", "done", "shipped", "bug", "fix",
]  # fmt: skip
TOPICS = [
    "general", "announcements", "random", "help", "jobs", "events", "offtopic", "news",
    "feedback", "support", "releases", "design", "backend", "frontend", "mobile", "ops",
    "security", "data", "hiring", "social",
]  # fmt: skip


# --- helpers ------------------------------------------------------------------------------


class Timer:
    def __init__(self):
        self.start = time.perf_counter()
        self.last = self.start
        self.steps: list[tuple[str, float]] = []

    def step(self, label: str) -> None:
        now = time.perf_counter()
        self.steps.append((label, now - self.last))
        print(f"  {label:<52} {now - self.last:7.2f} s", flush=True)
        self.last = now

    def total(self) -> float:
        return time.perf_counter() - self.start


def ts(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(sep=" ")


def zipf_cum_weights(n: int, s: float) -> list[float]:
    return list(itertools.accumulate(1.0 / (rank**s) for rank in range(1, n + 1)))


def copy_rows(cur, table: str, columns: list[str], rows) -> int:
    """COPY rows (tuples of None / bool / int / str, already formatted) in text format.

    Text values generated here never hold tab, newline or backslash; they are escaped
    anyway so the function stays correct for any input.
    """
    stmt = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
    )

    def field(value) -> str:
        if value is None:
            return "\\N"
        if value is True:
            return "t"
        if value is False:
            return "f"
        if isinstance(value, str):
            if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
                value = (
                    value.replace("\\", "\\\\")
                    .replace("\t", "\\t")
                    .replace("\n", "\\n")
                    .replace("\r", "\\r")
                )
            return value
        return str(value)

    count = 0
    buffer: list[str] = []
    with cur.copy(stmt) as copy:
        for row in rows:
            buffer.append("\t".join(map(field, row)))
            count += 1
            if len(buffer) >= 20_000:
                copy.write("\n".join(buffer) + "\n")
                buffer.clear()
        if buffer:
            copy.write("\n".join(buffer) + "\n")
    return count


def save_and_drop_secondary(cur, table: str) -> tuple[list[str], list[tuple[str, str, str]]]:
    """Drop every index and constraint of `table` except its primary key; return how to
    recreate them (standalone index DDL, and (name, type, definition) constraints)."""
    cur.execute(
        """
        SELECT conname, contype, pg_get_constraintdef(oid)
        FROM pg_constraint WHERE conrelid = %s::regclass AND contype <> 'p'
        ORDER BY CASE contype WHEN 'f' THEN 0 ELSE 1 END, conname
        """,
        [table],
    )
    constraints = cur.fetchall()
    cur.execute(
        """
        SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
        FROM pg_index i
        WHERE i.indrelid = %s::regclass AND NOT i.indisprimary
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid
                          AND c.conrelid = i.indrelid)
        ORDER BY 1
        """,
        [table],
    )
    indexes = cur.fetchall()
    for name, _, _ in constraints:
        cur.execute(
            sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
                sql.Identifier(table), sql.Identifier(name)
            )
        )
    for name, _ in indexes:
        cur.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
    return [ddl for _, ddl in indexes], constraints


def recreate_secondary(cur, table: str, indexes, constraints) -> None:
    for ddl in indexes:
        cur.execute(ddl)
    order = {"u": 0, "x": 1, "c": 2, "f": 3}
    for name, _contype, definition in sorted(constraints, key=lambda c: order.get(c[1], 9)):
        cur.execute(
            sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} ").format(
                sql.Identifier(table), sql.Identifier(name)
            )
            + sql.SQL(definition)
        )


# --- database setup -----------------------------------------------------------------------


def ensure_database(server_url: str, name: str, reset: bool) -> None:
    with psycopg.connect(f"{server_url}/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists and reset:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
            exists = None
            print(f"  dropped database {name}")
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            print(f"  created database {name}")


def django_migrate(db_url: str, migrate_all: bool) -> None:
    os.environ["DATABASE_URL"] = db_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "messaging_site.settings.dev"
    os.environ["DATABASE_POOL"] = "off"
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    if migrate_all:
        call_command("migrate", verbosity=0, interactive=False)
    else:
        # Only the apps this dataset fills (and what they depend on), so an unrelated
        # app's migration in progress elsewhere cannot stop a benchmark.
        for app in ("accounts", "chat", "boards"):
            call_command("migrate", app, verbosity=0, interactive=False)
    connections.close_all()


def password_hash() -> str:
    from django.contrib.auth.hashers import make_password

    return make_password(PASSWORD)


# --- data generation ----------------------------------------------------------------------


def generate_and_load(conn, args, timer: Timer) -> dict:
    rnd = random.Random(args.seed)
    now = time.time()
    window = args.days * 86400.0
    start = now - window  # messages and board posts fall in [start, now]
    stats: dict = {}
    cur = conn.cursor()

    # Texts: a pool of sentences, reused (generation must not dominate).
    sentences = [
        " ".join(rnd.choices(WORDS, k=rnd.randint(2, 30))).capitalize() + rnd.choice(".!?")
        for _ in range(5000)
    ]

    # --- users ----------------------------------------------------------------------
    hashed = password_hash()
    n_users = args.users
    bench_id = n_users + 1
    regular = range(1, n_users + 1)
    user_rows = []
    for uid in range(1, n_users + 2):
        username = BENCH_USERNAME if uid == bench_id else f"user{uid:05d}"
        joined = start - 60 * 86400 - rnd.random() * 300 * 86400
        user_rows.append(
            (uid, hashed, None, False, username, False, True, ts(joined), f"User {uid}",
             f"{username}@bench.example", 0)
        )  # fmt: skip
    copy_rows(
        cur, "accounts_user",
        ["id", "password", "last_login", "is_superuser", "username", "is_staff", "is_active",
         "date_joined", "name", "email", "sessions_version"],
        user_rows,
    )  # fmt: skip
    stats["users"] = len(user_rows)
    timer.step(f"users ({len(user_rows):,})")

    # --- blocks ---------------------------------------------------------------------
    blocks: set[tuple[int, int]] = set()
    # A few by benchuser so the read-time block filter has something to do.
    bench_blocks_target = min(5, args.blocks)
    while len(blocks) < bench_blocks_target:
        blocks.add((bench_id, rnd.choice(regular)))
    while len(blocks) < args.blocks:
        a, b = rnd.sample(regular, 2)
        blocks.add((a, b))
    copy_rows(
        cur, "accounts_block", ["id", "blocker_id", "blocked_id", "created_at"],
        ((i, a, b, ts(start - rnd.random() * 30 * 86400))
         for i, (a, b) in enumerate(sorted(blocks), start=1)),
    )  # fmt: skip
    stats["blocks"] = len(blocks)
    timer.step(f"blocks ({len(blocks):,})")

    # --- conversations --------------------------------------------------------------
    n_conv = args.conversations
    n_direct = round(n_conv * 0.7)
    n_group = round(n_conv * 0.2)
    n_room = n_conv - n_direct - n_group
    bench_total = args.bench_conversations
    bench_direct = min(n_direct, round(bench_total * 0.5))
    bench_group = min(n_group, round(bench_total * 0.3))
    bench_room = min(n_room, bench_total - bench_direct - bench_group)
    if bench_direct + bench_group + bench_room != bench_total:
        sys.exit("too few conversations for --bench-conversations")
    if n_direct > n_users * (n_users - 1) // 2:
        sys.exit("too many direct conversations for the number of users")

    pairs: set[tuple[int, int]] = set()
    for other in rnd.sample(regular, bench_direct):
        pairs.add((other, bench_id))  # bench_id is the highest id: low < high holds
    while len(pairs) < n_direct:
        a, b = rnd.sample(regular, 2)
        pairs.add((min(a, b), max(a, b)))

    # conversation: [kind, name, created_at, low, high, members(list of user ids), bench?]
    convs = []
    bench_pairs = {p for p in pairs if p[1] == bench_id}
    for low, high in pairs:
        convs.append(["direct", "", 0.0, low, high, [low, high], (low, high) in bench_pairs])
    for kind, count, bench_count in (
        ("group", n_group, bench_group),
        ("room", n_room, bench_room),
    ):
        for i in range(count):
            size = rnd.randint(3, 30)
            with_bench = i < bench_count
            members = rnd.sample(regular, size - 1 if with_bench else size)
            if with_bench:
                members.insert(rnd.randint(1, len(members)), bench_id)  # never the admin
            convs.append([kind, f"{kind}-{i:05d}", 0.0, None, None, members, with_bench])
    for conv in convs:
        conv[2] = start - rnd.random() * 60 * 86400
    convs.sort(key=lambda c: c[2])  # ids in creation order
    conv_ids = range(1, len(convs) + 1)

    # Message weights: Zipf over a random permutation of conversations, with the rank-1
    # (hottest) slot given to one of benchuser's rooms.
    ranked = list(conv_ids)
    rnd.shuffle(ranked)
    bench_rooms = [cid for cid in conv_ids if convs[cid - 1][0] == "room" and convs[cid - 1][6]]
    if bench_rooms:
        hot = bench_rooms[0]
        pos = ranked.index(hot)
        ranked[0], ranked[pos] = ranked[pos], ranked[0]
    cum = zipf_cum_weights(len(ranked), args.skew)

    # --- messages (generated before the conversation rows, which carry last_seq) ----
    n_msg = args.messages
    direct_ids = [cid for cid in conv_ids if convs[cid - 1][0] == "direct"]
    # A direct conversation is created by its first message: each gets at least one.
    base = direct_ids[: min(len(direct_ids), n_msg)]
    assignment = base + rnd.choices(ranked, cum_weights=cum, k=n_msg - len(base))
    rnd.shuffle(assignment)
    times = sorted(start + rnd.random() * window for _ in range(n_msg))
    last_seq = [0] * (len(convs) + 1)
    last_at = [0.0] * (len(convs) + 1)
    members_of = [None] + [c[5] for c in convs]
    timer.step("generate conversations, assign messages")

    msg_columns = ["id", "conversation_id", "seq", "sender_id", "text", "client_id",
                   "created_at", "deleted_at", "html", "mentions", "reply_to_id",
                   "edited_at"]  # fmt: skip
    from chat import formatting  # once Django is set up (django_migrate)

    sentence_html = [formatting.render(text) for text in sentences]
    usernames = {uid: row[4] for uid, row in enumerate(user_rows, start=1)}
    size_of = collections.Counter(assignment)
    hottest_cid = ranked[0]
    rich_from = size_of[hottest_cid] - 200  # the hottest's newest 200: all rich
    emoji = ["👍", "❤️", "😂", "🎉", "👀", "🙏", "✅", "🔥", "😮", "🚀"]
    emoji_cum = zipf_cum_weights(len(emoji), 1.2)
    reactions: list[tuple] = []
    mention_rows: list[tuple] = []
    edit_rows: list[tuple] = []

    def message_rows():
        choice = rnd.choice
        rand = rnd.random
        recent: dict[int, collections.deque] = collections.defaultdict(
            lambda: collections.deque(maxlen=20)
        )
        for mid, (cid, at) in enumerate(zip(assignment, times, strict=True), start=1):
            seq = last_seq[cid] + 1
            last_seq[cid] = seq
            last_at[cid] = at
            client_id = f"bench-{mid}" if rand() < 0.3 else None
            members = members_of[cid]
            sender = choice(members)
            earlier = recent[cid]
            if rand() < 0.001:  # moderator tombstone
                yield (mid, cid, seq, sender, "", client_id, ts(at), ts(min(now, at + 3600)),
                       "", "{}", None, None)  # fmt: skip
                earlier.append(mid)
                continue
            rich = cid == hottest_cid and seq > rich_from
            reply_to = choice(earlier) if earlier and (rich or rand() < 0.10) else None
            pick = rnd.randrange(len(sentences))
            text, html, mentioned = sentences[pick], sentence_html[pick], "{}"
            if len(members) > 2 and rand() < 0.03:
                named = choice([uid for uid in members if uid != sender])
                text = f"@{usernames[named]} {text}"
                html = formatting.render_parsed(
                    formatting.parse(text), {usernames[named].lower(): named}
                )
                mentioned = f"{{{named}}}"
                mention_rows.append((len(mention_rows) + 1, mid, named, cid, seq, sender))
            edited_at = None
            if rand() < 0.02:
                edited_at = ts(min(now, at + 90))
                edit_rows.append((len(edit_rows) + 1, mid, choice(sentences), ts(at),
                                  edited_at))  # fmt: skip
            if rich or rand() < 0.15:
                kinds = rnd.choices(emoji, cum_weights=emoji_cum, k=rnd.randint(1, 3))
                for kind in dict.fromkeys(kinds):
                    for uid in rnd.sample(members, min(len(members), rnd.randint(1, 5))):
                        reactions.append((len(reactions) + 1, mid, uid, kind,
                                          ts(min(now, at + 60 + rand() * 3600))))  # fmt: skip
            earlier.append(mid)
            yield (mid, cid, seq, sender, text, client_id, ts(at), None, html, mentioned,
                   reply_to, edited_at)  # fmt: skip

    # Conversations must exist before messages for FKs, but constraints are dropped during
    # the load and validated at the end, so messages can go first and carry last_seq.
    count = copy_rows(cur, "chat_message", msg_columns, message_rows())
    stats["messages"] = count
    timer.step(f"messages ({count:,})")
    copy_rows(cur, "chat_reaction", ["id", "message_id", "user_id", "emoji", "created_at"],
              reactions)  # fmt: skip
    copy_rows(cur, "chat_mention",
              ["id", "message_id", "user_id", "conversation_id", "seq", "sender_id"],
              mention_rows)  # fmt: skip
    copy_rows(cur, "chat_messageedit", ["id", "message_id", "text", "written_at", "replaced_at"],
              edit_rows)  # fmt: skip
    stats["reactions"], stats["mentions"], stats["edits"] = (
        len(reactions), len(mention_rows), len(edit_rows))  # fmt: skip
    timer.step(f"reactions ({len(reactions):,}), mentions, edits")

    copy_rows(
        cur, "chat_conversation",
        ["id", "kind", "name", "last_seq", "last_message_at", "created_by_id", "created_at",
         "direct_low_id", "direct_high_id"],
        ((cid, c[0], c[1], last_seq[cid], ts(last_at[cid]) if last_seq[cid] else None,
          c[5][0], ts(c[2]), c[3], c[4])
         for cid, c in zip(conv_ids, convs, strict=True)),
    )  # fmt: skip
    stats["conversations"] = len(convs)
    stats["direct"], stats["groups"], stats["rooms"] = n_direct, n_group, n_room
    sizes = sorted(last_seq[1:], reverse=True)
    stats["hottest"] = sizes[:5]
    stats["median_conversation"] = sizes[len(sizes) // 2]
    timer.step(f"conversations ({len(convs):,})")

    # --- memberships and read cursors -------------------------------------------------
    def unread_regular() -> int:
        r = rnd.random()
        if r < 0.55:
            return 0
        if r < 0.80:
            return rnd.randint(1, 10)
        if r < 0.92:
            return rnd.randint(11, 100)
        if r < 0.98:
            return rnd.randint(101, 1000)
        return 10**12  # never read anything

    # benchuser: unread in 35 of 50 (1..10 in 20, 11..100 in 10, 101..1000 in 4, and
    # --bench-hot-unread in the hottest conversation); caught up in the other 15.
    bench_convs = [cid for cid in conv_ids if convs[cid - 1][6]]
    hottest = ranked[0]
    others = [cid for cid in bench_convs if cid != hottest]
    rnd.shuffle(others)
    bench_unread = {hottest: args.bench_hot_unread}
    plan = [(1, 10)] * 20 + [(11, 100)] * 10 + [(101, 1000)] * 4
    for cid, (lo, hi) in zip(others, plan, strict=False):
        bench_unread[cid] = rnd.randint(lo, hi)
    for cid in others[len(plan) :]:
        bench_unread[cid] = 0

    def membership_rows():
        mid = 0
        for cid, c in zip(conv_ids, convs, strict=True):
            kind, created = c[0], c[2]
            top = last_seq[cid]
            for position, uid in enumerate(c[5]):
                mid += 1
                unread = bench_unread[cid] if uid == bench_id else unread_regular()
                read = max(0, top - unread)
                delivered = rnd.randint(read, top)
                role = "admin" if kind != "direct" and position == 0 else "member"
                joined = ts(created + position * 60)
                yield (mid, cid, uid, role, "approved", delivered, read, joined, joined, joined)
            if kind == "room" and rnd.random() < 0.3:  # a few pending join requests
                taken = set(c[5]) | {bench_id}
                for uid in rnd.sample(regular, rnd.randint(1, 3)):
                    if uid in taken:
                        continue
                    mid += 1
                    asked = ts(created + 86400)
                    yield (mid, cid, uid, "member", "pending", 0, 0, None, asked, asked)

    count = copy_rows(
        cur, "chat_membership",
        ["id", "conversation_id", "user_id", "role", "status", "delivered_seq", "read_seq",
         "joined_at", "created_at", "updated_at"],
        membership_rows(),
    )  # fmt: skip
    stats["memberships"] = count
    stats["bench_user_id"] = bench_id
    stats["hottest_conversation"] = hottest
    stats["bench_unread_conversations"] = sum(1 for v in bench_unread.values() if v)
    timer.step(f"memberships ({count:,})")

    # --- boards -------------------------------------------------------------------------
    n_boards = args.boards
    copy_rows(
        cur, "boards_board", ["id", "name", "created_by_id", "locked", "created_at"],
        ((bid, f"board-{bid:03d}", rnd.choice(regular), bid % 25 == 0,
          ts(start - rnd.random() * 30 * 86400)) for bid in range(1, n_boards + 1)),
    )  # fmt: skip
    board_cum = zipf_cum_weights(n_boards, args.skew)
    board_rank = list(range(1, n_boards + 1))
    rnd.shuffle(board_rank)
    topic_cum = zipf_cum_weights(len(TOPICS), 0.8)
    n_posts = args.board_messages
    post_boards = rnd.choices(board_rank, cum_weights=board_cum, k=n_posts)
    post_topics = rnd.choices(TOPICS, cum_weights=topic_cum, k=n_posts)
    post_times = sorted(start + rnd.random() * window for _ in range(n_posts))
    all_users = range(1, n_users + 2)
    count = copy_rows(
        cur, "boards_boardmessage", ["id", "board_id", "user_id", "topic", "data", "created_at"],
        ((pid, b, rnd.choice(all_users), t, rnd.choice(sentences), ts(at))
         for pid, (b, t, at) in enumerate(zip(post_boards, post_topics, post_times, strict=True),
                                          start=1)),
    )  # fmt: skip
    stats["boards"] = n_boards
    stats["board_messages"] = count
    timer.step(f"boards ({n_boards}) and board messages ({count:,})")
    return stats


# --- main ---------------------------------------------------------------------------------


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--server-url", default=SERVER_URL, help="postgres://user@host:port")
    p.add_argument("--db-name", default="messaging_bench")
    p.add_argument("--reset", action="store_true", help="drop and recreate the database")
    p.add_argument("--users", type=int, default=2000)
    p.add_argument("--conversations", type=int, default=10_000)
    p.add_argument("--messages", type=int, default=1_000_000)
    p.add_argument("--blocks", type=int, default=2000)
    p.add_argument("--boards", type=int, default=100)
    p.add_argument("--board-messages", type=int, default=200_000)
    p.add_argument("--bench-conversations", type=int, default=50)
    p.add_argument(
        "--bench-hot-unread",
        type=int,
        default=2000,
        help="benchuser's unread messages in the hottest conversation",
    )
    p.add_argument("--skew", type=float, default=1.0, help="Zipf exponent of sizes")
    p.add_argument("--days", type=float, default=90, help="time span of the messages")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument(
        "--migrate-all",
        action="store_true",
        help="migrate every app (default: accounts, chat, boards and their dependencies)",
    )
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    if "bench" not in args.db_name:
        sys.exit("refusing: the database name must contain 'bench' (this script empties it)")
    db_url = f"{args.server_url}/{args.db_name}"
    print(f"Seeding {db_url}")
    timer = Timer()
    ensure_database(args.server_url, args.db_name, args.reset)
    timer.step("create database")
    django_migrate(db_url, args.migrate_all)
    timer.step("django migrate")

    with psycopg.connect(db_url) as conn:
        conn.execute("SET maintenance_work_mem = '512MB'")
        conn.execute("SET synchronous_commit = off")
        conn.execute(
            sql.SQL("TRUNCATE {} RESTART IDENTITY CASCADE").format(
                sql.SQL(", ").join(map(sql.Identifier, TABLES))
            )
        )
        saved = {}
        with conn.cursor() as cur:
            for table in TABLES:
                saved[table] = save_and_drop_secondary(cur, table)
        timer.step("truncate, drop secondary indexes/constraints")
        stats = generate_and_load(conn, args, timer)
        with conn.cursor() as cur:
            for table in TABLES:
                recreate_secondary(cur, table, *saved[table])
        timer.step("recreate indexes and constraints (validates data)")
        with conn.cursor() as cur:
            for table in TABLES:
                cur.execute(
                    sql.SQL(
                        "SELECT setval(pg_get_serial_sequence({t}, 'id'), "
                        "(SELECT COALESCE(MAX(id), 0) + 1 FROM {i}), false)"
                    ).format(t=sql.Literal(table), i=sql.Identifier(table))
                )
        conn.commit()
        timer.step("commit")

    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")
        timer.step("VACUUM (ANALYZE)")
        check(conn, stats)
        timer.step("invariant checks")
        size = conn.execute("SELECT pg_size_pretty(pg_database_size(current_database()))")
        stats["database_size"] = size.fetchone()[0]

    print(f"\nDone in {timer.total():.1f} s. Dataset:")
    for key, value in stats.items():
        print(f"  {key:<28} {value:,}" if isinstance(value, int) else f"  {key:<28} {value}")
    print(f"Sign in as {BENCH_USERNAME} (or user00001..) with password {PASSWORD!r}.")


def check(conn, stats) -> None:
    """Cheap invariant checks; the recreated constraints already checked the rest."""
    bad = conn.execute(
        """
        SELECT count(*) FROM chat_conversation c
        LEFT JOIN (SELECT conversation_id, count(*) n, max(seq) top, max(created_at) last_at
                   FROM chat_message GROUP BY conversation_id) m ON m.conversation_id = c.id
        WHERE c.last_seq <> COALESCE(m.top, 0) OR COALESCE(m.n, 0) <> c.last_seq
           OR c.last_message_at IS DISTINCT FROM m.last_at
        """
    ).fetchone()[0]
    if bad:
        sys.exit(f"invariant broken: {bad} conversations with gaps or a wrong last_seq")
    bench = conn.execute(
        """
        SELECT count(*), count(*) FILTER (WHERE m.read_seq < c.last_seq)
        FROM chat_membership m JOIN chat_conversation c ON c.id = m.conversation_id
        JOIN accounts_user u ON u.id = m.user_id
        WHERE u.username = %s AND m.status = 'approved'
        """,
        [BENCH_USERNAME],
    ).fetchone()
    stats["bench_memberships"] = bench[0]
    stats["bench_behind_read_cursor"] = bench[1]


if __name__ == "__main__":
    main()
