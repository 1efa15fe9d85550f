"""`message_send` on PostgreSQL: the conversation's row lock, then one statement.

Through the ORM a send was nine round trips inside the transaction (lock, retry lookup,
membership, block check, conversation update, insert, cursor update, BEGIN and COMMIT)
and about 3 ms of CPU building the queries; the lock was held across all of them, so
under load the sends of one room queued behind each other's round trips. Here the
transaction is the lock and one statement: BEGIN, `SELECT … FOR UPDATE`, the statement,
COMMIT (docs/PERFORMANCE.md, "REST send").

Same rules, same order as the ORM path in `chat.services.message_send`, which other
databases (the SQLite of the `make run` fallback) still take; `chat/tests/test_sending.py`
runs the rules on both. The statement runs after the lock is granted, so under READ
COMMITTED it sees every send and every membership change that committed before: a racing
retry finds its first message, a member removed while we waited is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from messaging_site.db import prepared_cursor

__all__ = ["Outcome", "send"]

_LOCK = """SELECT c.kind, c.name, c.direct_low_id, c.direct_high_id
FROM chat_conversation AS c WHERE c.id = %(conversation)s FOR UPDATE"""

# The checks, in the ORM path's order: a retry (even by someone no longer a member) gets
# its first message back; then membership; then, in a direct conversation, blocks either
# way. The writes happen only when all pass; data-modifying CTEs always run, and each of
# these is gated on the one before it.
_SEND = """
WITH existing AS (
    SELECT m.id, m.seq, m.text, m.created_at, m.deleted_at
    FROM chat_message AS m
    WHERE m.conversation_id = %(conversation)s AND m.sender_id = %(sender)s
      AND m.client_id = %(client_id)s
),
verdict AS (
    SELECT CASE
        WHEN EXISTS (SELECT 1 FROM existing) THEN 'retried'
        WHEN NOT EXISTS (
            SELECT 1 FROM chat_membership AS mb
            WHERE mb.conversation_id = %(conversation)s AND mb.user_id = %(sender)s
              AND mb.status = 'approved'
        ) THEN 'not_member'
        WHEN %(direct)s AND EXISTS (
            SELECT 1 FROM accounts_block AS b
            WHERE (b.blocker_id = %(low)s AND b.blocked_id = %(high)s)
               OR (b.blocker_id = %(high)s AND b.blocked_id = %(low)s)
        ) THEN 'blocked'
        ELSE 'sent'
    END AS outcome
),
bump AS (
    UPDATE chat_conversation AS c
    SET last_seq = c.last_seq + 1, last_message_at = %(now)s
    FROM verdict
    WHERE c.id = %(conversation)s AND verdict.outcome = 'sent'
    RETURNING c.last_seq
),
inserted AS (
    INSERT INTO chat_message
        (conversation_id, seq, sender_id, text, client_id, created_at, deleted_at)
    SELECT %(conversation)s, bump.last_seq, %(sender)s, %(text)s, %(client_id)s, %(now)s,
           NULL
    FROM bump
    RETURNING id, seq, text, created_at, deleted_at
),
-- Writing implies having read up to here (chat.services.message_send says why).
cursors AS (
    UPDATE chat_membership AS mb
    SET read_seq = GREATEST(mb.read_seq, inserted.seq),
        delivered_seq = GREATEST(mb.delivered_seq, inserted.seq)
    FROM inserted
    WHERE mb.conversation_id = %(conversation)s AND mb.user_id = %(sender)s
)
SELECT verdict.outcome, m.id, m.seq, m.text, m.created_at, m.deleted_at
FROM verdict
LEFT JOIN (SELECT * FROM inserted UNION ALL SELECT * FROM existing) AS m ON true
"""


@dataclass(frozen=True)
class Outcome:
    """`outcome` is "sent", "retried", "not_member", "blocked" or "missing" (no such
    conversation); the message fields are set for the first two."""

    outcome: str
    kind: str | None = None
    name: str = ""
    direct_low_id: int | None = None
    direct_high_id: int | None = None
    id: int | None = None
    seq: int | None = None
    text: str = ""
    created_at: datetime | None = None
    deleted_at: datetime | None = None


def send(
    *, conversation_id: int, sender_id: int, text: str, client_id: str | None, now: datetime
) -> Outcome:
    """Run inside a transaction (`transaction.atomic`): the lock lasts until it ends."""
    with prepared_cursor() as cursor:
        cursor.execute(_LOCK, {"conversation": conversation_id})
        row = cursor.fetchone()
        if row is None:
            return Outcome("missing")
        kind, name, low, high = row
        cursor.execute(
            _SEND,
            {
                "conversation": conversation_id,
                "sender": sender_id,
                "text": text,
                "client_id": client_id,
                "now": now,
                "direct": kind == "direct",
                "low": low,
                "high": high,
            },
        )
        outcome, *message = cursor.fetchone()
    return Outcome(outcome, kind, name, low, high, *message)
