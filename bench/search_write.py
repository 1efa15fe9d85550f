#!/usr/bin/env python
"""What keeping the search vector costs a write, in PostgreSQL: the latency of single-row
INSERTs into a copy of chat_message without search, with the trigger and the GIN index
as migration 0010 makes them (GIN's `fastupdate` on, PostgreSQL's default), and with
`fastupdate` off, alternated in rounds on the same server.

    .venv/bin/python bench/search_write.py                  # 3 rounds of 20,000 inserts

Run by hand, never by the test suite. It creates (and drops) the database
`messaging_bench_search_write`; each insert is its own transaction, as a send is, with
texts like the seeder's. Reports p50 / p99 / max per variant per round, and the mean.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from seed_messages import WORDS  # noqa: E402

SERVER = "postgres://postgres@127.0.0.1:5432"
DB = "messaging_bench_search_write"

SCHEMA = """
CREATE EXTENSION IF NOT EXISTS btree_gin;
CREATE TABLE m_{name} (
    id bigserial PRIMARY KEY, conversation_id bigint NOT NULL, seq bigint NOT NULL,
    text text NOT NULL, search_vector tsvector, UNIQUE (conversation_id, seq));
"""
SEARCH = """
CREATE FUNCTION v_{name}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.search_vector := to_tsvector('english', translate(NEW.text, '<>', '  '))
                         || to_tsvector('simple', translate(NEW.text, '<>', '  '));
    RETURN NEW;
END $$;
CREATE TRIGGER v_{name} BEFORE INSERT OR UPDATE OF text ON m_{name}
    FOR EACH ROW EXECUTE FUNCTION v_{name}();
CREATE INDEX i_{name} ON m_{name} USING gin (conversation_id, search_vector)
    WITH (fastupdate = {fastupdate});
"""
VARIANTS = {"plain": None, "search": "on", "search_nofastupdate": "off"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inserts", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {DB}")
        admin.execute(f"CREATE DATABASE {DB}")
    rnd = random.Random(7)
    texts = [
        " ".join(rnd.choices(WORDS, k=rnd.randint(2, 30))).capitalize() + "."
        for _ in range(args.inserts)
    ]
    seqs: dict[str, int] = {}
    results: dict[str, list[tuple[float, float, float]]] = {name: [] for name in VARIANTS}
    with psycopg.connect(f"{SERVER}/{DB}", autocommit=True) as conn:
        for name, fastupdate in VARIANTS.items():
            conn.execute(SCHEMA.format(name=name))
            if fastupdate:
                conn.execute(SEARCH.format(name=name, fastupdate=fastupdate))
        for round_ in range(1, args.rounds + 1):
            for name in VARIANTS:
                sql = f"INSERT INTO m_{name} (conversation_id, seq, text) VALUES (%s, %s, %s)"
                timings = []
                for text in texts:
                    conversation = rnd.randrange(1, 200)
                    seqs[name + str(conversation)] = seq = seqs.get(name + str(conversation), 0) + 1
                    start = time.perf_counter()
                    conn.execute(sql, (conversation, seq, text), prepare=True)
                    timings.append((time.perf_counter() - start) * 1000)
                timings.sort()
                p50, p99 = timings[len(timings) // 2], timings[int(len(timings) * 0.99)]
                results[name].append((p50, p99, timings[-1]))
                print(
                    f"round {round_} {name:<22} p50 {p50:.3f} p99 {p99:.3f} "
                    f"max {timings[-1]:.1f} ms  mean {statistics.fmean(timings):.3f} ms",
                    flush=True,
                )
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as admin:
        admin.execute(f"DROP DATABASE {DB}")
    print("\n| variant | p50 ms | p99 ms | max ms (per round) |")
    print("|---|---|---|---|")
    for name, rows in results.items():
        print(
            f"| {name} | {' / '.join(f'{r[0]:.3f}' for r in rows)} "
            f"| {' / '.join(f'{r[1]:.3f}' for r in rows)} "
            f"| {' / '.join(f'{r[2]:.1f}' for r in rows)} |"
        )


if __name__ == "__main__":
    main()
