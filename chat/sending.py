"""`message_send` on PostgreSQL: one round trip that is a transaction of its own.

Through the ORM a send was nine round trips inside the transaction (lock, retry lookup,
membership, block check, conversation update, insert, cursor update, BEGIN and COMMIT)
and more CPU building the queries than the rest of the request; the lock was held
across all of them, so
under load the sends of one room queued behind each other's round trips. Here it is two
statements, the conversation's row lock (`SELECT … FOR UPDATE`) and one statement that
checks and writes, sent together in pipeline mode and followed by one Sync. PostgreSQL
runs the statements between two Syncs as one transaction when no BEGIN opened one, and
commits it at the Sync: no BEGIN and no COMMIT round trips
(bench/results/PERFORMANCE-history.md, "REST send"). Inside a caller's transaction they
simply join it.

The rules are those `chat.services.message_send` documents, in its order. The second
statement starts after the lock is granted, so under READ COMMITTED it sees every send
and every membership change that committed before: a racing retry finds its first
message, a member removed while we waited is refused. It reads the conversation's kind
and pair itself, for the same reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import connection

from .models import EXCERPT_LENGTH

__all__ = ["Outcome", "send"]

_LOCK = "SELECT 1 FROM chat_conversation WHERE id = %(conversation)s FOR UPDATE"
# A send carrying attachments locks them next, in id order (so two sends sharing some
# never deadlock), before the statement below reads them: of two sends racing for one
# upload, or a send and the sweep of unattached uploads, the second sees it taken.
_LOCK_UPLOADS = """SELECT 1 FROM chat_upload WHERE id = ANY(%(attachments)s::bigint[])
ORDER BY id FOR UPDATE"""

# The checks, in order: a retry (even by someone no longer a member) gets
# its first message back; then membership; then, in a direct conversation, blocks either
# way; then the message answered, if any, must be of this conversation; then the uploads
# attached must be the sender's and not yet attached to a message. The writes happen
# only when all pass; data-modifying CTEs always run, and each of
# these is gated on the one before it.
_SEND = """
WITH conversation AS (
    SELECT c.kind, c.name, c.direct_low_id, c.direct_high_id
    FROM chat_conversation AS c WHERE c.id = %(conversation)s
),
existing AS (
    SELECT m.id, m.seq, m.text, m.html, m.created_at, m.edited_at, m.deleted_at,
           m.reply_to_id, m.mentions, m.attachments
    FROM chat_message AS m
    WHERE m.conversation_id = %(conversation)s AND m.sender_id = %(sender)s
      AND m.client_id = %(client_id)s
),
-- The message answered: the retried message's own, else the one asked for, which must be
-- of this conversation.
parent AS (
    SELECT p.id, p.seq, p.sender_id, p.text, p.deleted_at
    FROM chat_message AS p
    WHERE p.conversation_id = %(conversation)s
      AND p.id = CASE WHEN EXISTS (SELECT 1 FROM existing)
                      THEN (SELECT reply_to_id FROM existing)
                      ELSE %(reply_to)s::bigint END
),
verdict AS (
    SELECT CASE
        WHEN NOT EXISTS (SELECT 1 FROM conversation) THEN 'missing'
        WHEN EXISTS (SELECT 1 FROM existing) THEN 'retried'
        WHEN NOT EXISTS (
            SELECT 1 FROM chat_membership AS mb
            WHERE mb.conversation_id = %(conversation)s AND mb.user_id = %(sender)s
              AND mb.status = 'approved'
        ) THEN 'not_member'
        WHEN EXISTS (
            SELECT 1 FROM accounts_block AS b, conversation AS c
            WHERE c.kind = 'direct'
              AND ((b.blocker_id = c.direct_low_id AND b.blocked_id = c.direct_high_id)
                OR (b.blocker_id = c.direct_high_id AND b.blocked_id = c.direct_low_id))
        ) THEN 'blocked'
        WHEN %(reply_to)s::bigint IS NOT NULL AND NOT EXISTS (SELECT 1 FROM parent)
            THEN 'bad_reply'
        WHEN cardinality(%(attachments)s::bigint[]) > 0 AND (
            SELECT count(*) FROM chat_upload AS up
            WHERE up.id = ANY(%(attachments)s::bigint[]) AND up.uploader_id = %(sender)s
              AND up.message_id IS NULL
        ) <> cardinality(%(attachments)s::bigint[]) THEN 'bad_attachments'
        ELSE 'sent'
    END AS outcome
),
-- Of the members the caller resolved (chat.services.message_send), those still approved.
mentioned AS (
    SELECT COALESCE(array_agg(mb.user_id ORDER BY mb.user_id), '{}') AS ids
    FROM chat_membership AS mb
    WHERE mb.conversation_id = %(conversation)s AND mb.status = 'approved'
      AND mb.user_id = ANY(%(mentions)s::bigint[])
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
        (conversation_id, seq, sender_id, text, html, client_id, created_at, deleted_at,
         reply_to_id, mentions, attachments)
    SELECT %(conversation)s, bump.last_seq, %(sender)s, %(text)s, %(html)s, %(client_id)s,
           %(now)s, NULL, %(reply_to)s::bigint, mentioned.ids, %(attachment_json)s::jsonb
    FROM bump, mentioned
    RETURNING id, seq, text, html, created_at, edited_at, deleted_at, reply_to_id, mentions,
              attachments
),
claimed AS (
    UPDATE chat_upload AS up SET message_id = inserted.id, position = a.ord - 1
    FROM inserted, unnest(%(attachments)s::bigint[]) WITH ORDINALITY AS a(id, ord)
    WHERE up.id = a.id
),
mention_rows AS (
    INSERT INTO chat_mention (message_id, user_id, conversation_id, seq, sender_id)
    SELECT inserted.id, mentioned_id, %(conversation)s, inserted.seq, %(sender)s
    FROM inserted, unnest(inserted.mentions) AS mentioned_id
),
-- Writing implies having read up to here (chat.services.message_send says why).
cursors AS (
    UPDATE chat_membership AS mb
    SET read_seq = GREATEST(mb.read_seq, inserted.seq),
        delivered_seq = GREATEST(mb.delivered_seq, inserted.seq)
    FROM inserted
    WHERE mb.conversation_id = %(conversation)s AND mb.user_id = %(sender)s
)
SELECT verdict.outcome, c.kind, c.name, c.direct_low_id, c.direct_high_id,
       m.id, m.seq, m.text, m.html, m.created_at, m.edited_at, m.deleted_at, m.mentions,
       m.attachments::text,
       p.id, p.seq, p.sender_id, u.username, left(p.text, %(excerpt)s), p.deleted_at,
       EXISTS (SELECT 1 FROM accounts_block AS b
               WHERE b.blocker_id = %(sender)s AND b.blocked_id = p.sender_id)
FROM verdict
LEFT JOIN conversation AS c ON true
LEFT JOIN (SELECT * FROM inserted UNION ALL SELECT * FROM existing) AS m ON true
LEFT JOIN parent AS p ON m.id IS NOT NULL
LEFT JOIN accounts_user AS u ON u.id = p.sender_id
"""


@dataclass(frozen=True)
class Outcome:
    """`outcome` is "sent", "retried", "not_member", "blocked", "bad_reply",
    "bad_attachments" or "missing" (no such conversation); the message fields are set for
    the first two."""

    outcome: str
    kind: str | None = None
    name: str = ""
    direct_low_id: int | None = None
    direct_high_id: int | None = None
    id: int | None = None
    seq: int | None = None
    text: str = ""
    html: str = ""
    created_at: datetime | None = None
    edited_at: datetime | None = None
    deleted_at: datetime | None = None
    mentions: list[int] | None = None
    # JSON text: the attachments' shapes (chat.uploads.attachment_shape).
    attachments: str = "[]"
    # The message answered, if any (its text cut to EXCERPT_LENGTH), and whether the
    # sender blocks its sender.
    parent_id: int | None = None
    parent_seq: int | None = None
    parent_sender_id: int | None = None
    parent_sender_username: str | None = None
    parent_text: str = ""
    parent_deleted_at: datetime | None = None
    parent_hidden: bool = False


def send(
    *,
    conversation_id: int,
    sender_id: int,
    text: str,
    html: str,
    client_id: str | None,
    reply_to: int | None,
    mentions: list[int],
    now: datetime,
    attachments: Sequence[int] = (),
    attachment_json: str = "[]",
) -> Outcome:
    """Outside a transaction (autocommit) the send commits before this returns; inside
    one, the lock lasts until that transaction ends."""
    params: dict[str, int | str | datetime | list[int] | None] = {
        "conversation": conversation_id,
        "sender": sender_id,
        "text": text,
        "html": html,
        "client_id": client_id,
        "reply_to": reply_to,
        "mentions": mentions,
        "attachments": list(attachments),
        "attachment_json": attachment_json,
        "excerpt": EXCERPT_LENGTH,
        "now": now,
    }
    with connection.cursor() as cursor:
        with connection.wrap_database_errors, connection.connection.pipeline():
            # The lock's result (empty for a missing conversation) is not needed, so one
            # cursor runs both: the statement answers "missing" itself.
            cursor.execute(_LOCK, params)
            if attachments:
                cursor.execute(_LOCK_UPLOADS, params)
            cursor.execute(_SEND, params)
        return Outcome(*cursor.fetchone())
