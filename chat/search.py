"""Search over the messages a user may read now (SPEC section 13): in conversations they
are an approved member of, not tombstoned, not from a user they block.

PostgreSQL full-text search on `Message.search_vector`, a stored column a trigger computes
in the statement that writes the text (sends, edits and deletes alike), indexed with the
conversation (GIN, btree_gin). Every word of the query must match, stemmed in
SEARCH_CONFIG ("meetings" finds "meeting"); the last one also as the start of a word as
written, since people search as they type. Newest first, in the order messages were
stored (their ids); a cursor continues below the last. How a page is found fast for both
a common and a rare word: `_statement`.

The highlight is PostgreSQL's `ts_headline` with private-use characters as its marks,
which the text cannot contain (they are stripped first); Python then escapes the whole
headline as HTML and only then turns the marks into `<mark>` and `</mark>`, so the
highlight is HTML-escaped text with `<mark>` as its one tag.

The SQL is assembled from this module's constants only (hence S608 off for this file);
every value a request supplies is a bound parameter.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import connection

from accounts.models import User
from messaging_site.converters import MAX_ID
from messaging_site.errors import Invalid

from .models import PREFIX_CONFIG, SEARCH_CONFIG
from .reading import message_json_sql

__all__ = ["MAX_QUERY", "Cursor", "Filters", "Page", "filters_from", "search"]

MAX_QUERY = 200
DEFAULT_PAGE = 20
MAX_PAGE = 50
_WORD = re.compile(r"[^\W_]+")
# Private-use characters: the marks ts_headline puts around a match, and what stands for
# "<" and ">" while it reads the text (its parser takes anything like a tag for markup and
# drops it).
_OPEN, _CLOSE, _LT, _GT = "\ue000", "\ue001", "\ue002", "\ue003"


@dataclass(frozen=True)
class Cursor:
    """The last result of a page: the next one continues below it."""

    message_id: int


@dataclass(frozen=True)
class Filters:
    conversation_id: int | None = None
    sender_id: int | None = None
    before: datetime | None = None
    after: datetime | None = None


@dataclass
class Page:
    """`results`: the JSON text of the list; `next`: where the next page starts."""

    results: str
    next: Cursor | None


def words_of(q: object) -> list[str]:
    """The words a query searches for. Raises Invalid for a query that is not 1 to
    MAX_QUERY characters or has no word in it."""
    if not isinstance(q, str) or not q.strip():
        raise Invalid(fields={"q": ["What to search for."]})
    if len(q) > MAX_QUERY:
        raise Invalid(fields={"q": [f"At most {MAX_QUERY} characters."]})
    words = _WORD.findall(q.lower())
    if not words:
        raise Invalid(fields={"q": ["At least one word (letters or digits)."]})
    return words


# How many of the newest messages the first branch reads row by row (`_statement`).
WINDOW = 20_000

# The reader, the conversations they read, the query and the highlight's query: every
# word but the last, stemmed, and the last stemmed or as the start of a word as written;
# the highlight marks every stem and the last word as a prefix of the words as written,
# so "meetings" marks "meeting" and "meet" marks "meetings".
_READER = f"""SELECT %(user)s::bigint AS me_id,
    ARRAY(SELECT b.blocked_id FROM accounts_block AS b WHERE b.blocker_id = %(user)s)
        AS blocked,
    ARRAY(SELECT mb.conversation_id FROM chat_membership AS mb
          WHERE mb.user_id = %(user)s AND mb.status = 'approved' {{conversation}}) AS readable,
    plainto_tsquery('{SEARCH_CONFIG}', %(words)s)
        && (plainto_tsquery('{SEARCH_CONFIG}', %(last)s)
            || to_tsquery('{PREFIX_CONFIG}', quote_literal(%(last)s) || ':*')) AS query,
    (SELECT to_tsquery('{PREFIX_CONFIG}', string_agg(quote_literal(w) || ':*', ' | '))
     FROM (SELECT lexeme AS w FROM unnest(to_tsvector('{SEARCH_CONFIG}', %(all)s))
           UNION SELECT %(last)s) AS x) AS marks,
    -- Where the first branch stops: WINDOW messages below the newest (or the cursor).
    COALESCE(%(cursor)s::bigint, (SELECT max(id) + 1 FROM chat_message)) - %(window)s
        AS edge"""

# One stretch of the text around the best match, whole for a text of up to 35 words.
_HEADLINE = f"StartSel={_OPEN}, StopSel={_CLOSE}, MaxWords=35, MinWords=15"

_FILTERS = {
    "sender": "m.sender_id = %(sender)s",
    "before": "m.created_at < %(before)s",
    "after": "m.created_at > %(after)s",
    "cursor": "m.id < %(cursor)s",
}


def _statement(present: frozenset[str]) -> str:
    """The page for the filters `present`, newest (highest id) first, in two branches of
    one UNION ALL under one LIMIT, which PostgreSQL runs in order and stops as soon as
    the page is full:

    1. the newest WINDOW messages of the whole table, walked down its primary key, each
       checked for the reader's conversations and the query: a common word fills a page
       within a few hundred rows, where its index entries would number tens of thousands
       (the `+ 0` and `ts_match_vq` keep the planner from using an index here);
    2. below that, the (conversation, vector) index, which a rare word makes cheap.

    Every message above the edge is in the first branch and every one below in the
    second, so the page is exactly the newest matches either way."""
    common = " AND ".join(
        [
            "m.deleted_at IS NULL",
            "(m.sender_id IS NULL OR NOT m.sender_id = ANY((SELECT blocked FROM p)::bigint[]))",
        ]
        + [_FILTERS[name] for name in ("sender", "before", "after", "cursor") if name in present]
    )
    reader = _READER.format(
        conversation="AND mb.conversation_id = %(conversation)s"
        if "conversation" in present
        else ""
    )
    return f"""
WITH p AS MATERIALIZED ({reader}),
hits AS MATERIALIZED (
    (SELECT m.id FROM chat_message AS m
     WHERE m.id >= (SELECT edge FROM p)
       AND (m.conversation_id + 0) = ANY((SELECT readable FROM p)::bigint[])
       AND ts_match_vq(m.search_vector, (SELECT query FROM p)) AND {common}
     ORDER BY m.id DESC LIMIT %(limit)s)
    UNION ALL
    (SELECT m.id FROM chat_message AS m
     WHERE m.id < (SELECT edge FROM p)
       AND m.conversation_id = ANY((SELECT readable FROM p)::bigint[])
       AND m.search_vector @@ (SELECT query FROM p) AND {common}
     ORDER BY m.id DESC LIMIT %(limit)s)
    LIMIT %(limit)s
)
SELECT row_to_json(found)::text, t.id,
       ts_headline('{PREFIX_CONFIG}',
                   translate(t.text, '<>{_OPEN}{_CLOSE}{_LT}{_GT}', '{_LT}{_GT}'),
                   p.marks, '{_HEADLINE}'),
       json_build_object(
           'id', c.id, 'kind', c.kind, 'name', c.name,
           'peer', CASE WHEN c.kind = 'direct' THEN (
               SELECT json_build_object('id', u.id, 'username', u.username, 'name', u.name)
               FROM chat_membership AS other JOIN accounts_user AS u ON u.id = other.user_id
               WHERE other.conversation_id = c.id AND other.user_id <> p.me_id LIMIT 1)
           END)::text
FROM ({
        message_json_sql(
            "msg.id IN (SELECT id FROM hits)", "msg.id DESC", "%(limit)s", reader="CROSS JOIN p"
        )
    }) AS found
JOIN chat_message AS t ON t.id = found.id
JOIN chat_conversation AS c ON c.id = t.conversation_id
CROSS JOIN p
ORDER BY t.id DESC
"""


_STATEMENTS: dict[frozenset[str], str] = {}


def highlight(headline: str) -> str:
    """ts_headline's output, HTML-escaped, its marks as `<mark>` tags."""
    text = headline.replace(_LT, "<").replace(_GT, ">")
    return html.escape(text).replace(_OPEN, "<mark>").replace(_CLOSE, "</mark>")


def search(*, user: User, q: object, filters: Filters, cursor: Cursor | None, limit: int) -> Page:
    """One page of the messages `user` may read that match `q`, newest first. Raises
    Invalid for a bad query. Precondition: a `filters.conversation_id` is one the user
    reads (chat.selectors.conversation_for_reader), so refusing it is the caller's."""
    words = words_of(q)
    params: dict[str, int | str | datetime | None] = {
        "user": user.pk,
        "words": " ".join(words[:-1]),
        "last": words[-1],
        "all": " ".join(words),
        "conversation": filters.conversation_id,
        "sender": filters.sender_id,
        "before": filters.before,
        "after": filters.after,
        "cursor": cursor.message_id if cursor else None,
        "limit": limit + 1,
        "window": WINDOW,
    }
    present = frozenset(
        name
        for name, value in [
            ("conversation", filters.conversation_id),
            ("sender", filters.sender_id),
            ("before", filters.before),
            ("after", filters.after),
            ("cursor", cursor),
        ]
        if value is not None
    )
    sql = _STATEMENTS.get(present)
    if sql is None:
        sql = _STATEMENTS[present] = _statement(present)
    with connection.cursor() as db:
        db.execute(sql, params)
        rows = db.fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    items = [
        f'{{"message": {message}, "highlight": {json.dumps(highlight(headline))}, '
        f'"conversation": {conversation}}}'
        for message, _, headline, conversation in rows
    ]
    following = Cursor(rows[-1][1]) if more and rows else None
    return Page("[" + ",".join(items) + "]", following)


def _instant(value: str | None, name: str, errors: dict[str, list[str]]) -> datetime | None:
    if value is None:
        return None
    try:
        instant = datetime.fromisoformat(value)
    except ValueError:
        errors[name] = ["An ISO 8601 instant, such as 2026-12-01T09:30:00Z."]
        return None
    # An instant with no offset is taken as UTC.
    return instant if instant.tzinfo else instant.replace(tzinfo=UTC)


def _id(value: str | None, name: str, errors: dict[str, list[str]]) -> int | None:
    if value is None:
        return None
    if not (value.isascii() and value.isdigit()) or not 0 < int(value) <= MAX_ID:
        errors[name] = ["An id."]
        return None
    return int(value)


def filters_from(params: Mapping[str, str]) -> Filters:
    """The filters of a search request's query string. Raises Invalid, naming each bad one."""
    errors: dict[str, list[str]] = {}

    def given(name: str) -> str | None:
        """The parameter, trimmed; None when absent. Present but empty is not absent: it
        is refused like any other value that is not one."""
        value = params.get(name)
        return None if value is None else value.strip()

    filters = Filters(
        conversation_id=_id(given("conversation"), "conversation", errors),
        sender_id=_id(given("sender"), "sender", errors),
        before=_instant(given("before"), "before", errors),
        after=_instant(given("after"), "after", errors),
    )
    if errors:
        raise Invalid(fields=errors)
    return filters
