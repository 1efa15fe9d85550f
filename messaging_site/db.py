"""Database work from async code: the consumer, its handlers, the WebSocket auth.

Channels' `database_sync_to_async` runs every call on one thread per process
(`thread_sensitive=True`), so each socket's queries wait behind every other socket's
(channels#2132): a burst of connects queued past Daphne's handshake timeout and was
dropped (bench/results/PERFORMANCE-history.md, "Real-time"). Our calls are
self-contained (a service opens its own transaction; nothing spans two calls), so they
run on the event loop's thread pool instead, each with a connection of its own from the
pool, and a burst is served in parallel. Like Channels' wrapper, each call closes stale
connections before and after.
"""

import functools
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import connection, models

from .realtime import bind_loop

# All database work of a web process runs on these threads: sockets' calls and, through
# messaging_site.http, every HTTP request. Fewer threads than the connection pool holds,
# so a thread always finds a connection, and nothing waits out the pool's timeout; work
# beyond that waits its turn here, in order.
executor = ThreadPoolExecutor(
    max_workers=max(2, settings.DATABASE_POOL_MAX - 2), thread_name_prefix="db-call"
)


def db_call(function):
    """`function` as an awaitable that runs on a pool thread (usable as a decorator)."""
    threaded = database_sync_to_async(function, thread_sensitive=False, executor=executor)

    @functools.wraps(function)
    async def call(*args, **kwargs):
        bind_loop()
        return await threaded(*args, **kwargs)

    return call


# Statements bind on the server (settings, DATABASE_OPTIONS), and PostgreSQL takes at most
# 65,535 parameters in one: an `__in` over a list of ids that could be longer (an admin
# action over "all N selected") goes in batches of this many.
ID_BATCH = 10_000


def id_batches(ids: Sequence[int]) -> Iterator[Sequence[int]]:
    for start in range(0, len(ids), ID_BATCH):
        yield ids[start : start + ID_BATCH]


def copy_rows(model: type[models.Model], fields: Sequence[str], rows: Iterable[Sequence]) -> None:
    """INSERT many rows through PostgreSQL's COPY (psycopg's `Cursor.copy`): no model
    instances, no bound parameters. A campaign of 100,000 recipients spent half its
    create in bulk_create building and binding them (bench/campaign_csv.py). Every NOT
    NULL column without a database default must be among `fields`."""
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    concrete = {field.name: field for field in model._meta.concrete_fields}
    columns = ", ".join(quote(str(concrete[name].column)) for name in fields)
    with connection.cursor() as cursor, cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
