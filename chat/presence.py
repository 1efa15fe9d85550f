"""Presence (SPEC section 13): a user is `active` while one of their sockets reported
activity in the last ACTIVE_SECONDS, `idle` while sockets are open but none is active,
`offline` OFFLINE_SECONDS after the last one closed. `lastSeen` is when a socket of theirs
last reported activity.

The state lives in Redis, shared by every Daphne process: per user, each open socket's
last heartbeat and last activity, and the status last announced. One Lua script applies
a socket's change and works out the status in one atomic step, so however many processes
hold a user's sockets, each change is announced once. An announcement is one publish per
conversation the user is in (to its group), never one per contact; each receiving socket
drops it where the user blocks the receiver, and a repeat (a contact sharing several
conversations hears each).

A socket that vanishes without closing (its process killed) stops its heartbeats, and
its entry counts for nothing after SOCKET_SECONDS; `sweep` (Celery beat, every
HEARTBEAT_SECONDS) announces what such vanished sockets changed.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import redis
from django.conf import settings
from django.db import connection
from redis.commands.core import Script

from messaging_site import redis_client
from messaging_site.realtime import publish_now

from .events import conversation_group, encode

__all__ = ["Presence", "announcements", "apply", "read", "sweep", "visible_to"]

logger = logging.getLogger(__name__)

ACTIVE_SECONDS = 300
# A socket heartbeats at this interval; an entry older than SOCKET_SECONDS is a socket gone.
HEARTBEAT_SECONDS = 30
SOCKET_SECONDS = 90
STATUSES = ("active", "idle", "offline")


def offline_seconds() -> float:
    return settings.PRESENCE_OFFLINE_SECONDS


@dataclass(frozen=True)
class Presence:
    status: str
    last_seen: float | None  # epoch seconds

    def last_seen_iso(self) -> str | None:
        """As REST writes instants (DRF's ISO 8601, `Z`)."""
        if not self.last_seen:
            return None
        moment = datetime.fromtimestamp(self.last_seen, UTC).isoformat()
        return moment.replace("+00:00", "Z")

    def last_seen_ms(self) -> int | None:
        """As frames write instants (epoch milliseconds)."""
        return int(self.last_seen * 1000) if self.last_seen else None

    def frame(self, user_id: int) -> dict:
        return {
            "action": "presence",
            "userId": user_id,
            "status": self.status,
            "lastSeen": self.last_seen_ms(),
        }


OFFLINE = Presence("offline", None)

# KEYS: sockets hash (channel -> "seen active"), last-seen, closed-at, announced, and the
#       set of users announced other than offline (what `sweep` checks).
# ARGV: op (open | active | idle | beat | close | check | read), channel, now,
#       ACTIVE_SECONDS, SOCKET_SECONDS, OFFLINE_SECONDS, user id.
# Returns {changed (0/1), status, last_seen or ""}.
_SCRIPT = """
local sockets, seen_key, closed_key, announced_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local op, channel, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
local active_for, socket_for, offline_after =
  tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
if op == 'open' or op == 'active' then
  redis.call('HSET', sockets, channel, now .. ' ' .. now)
  redis.call('SET', seen_key, now)
elseif op == 'idle' then
  redis.call('HSET', sockets, channel, now .. ' 0')
elseif op == 'beat' then
  -- An entry lost (Redis restarted empty) comes back idle until the socket reports.
  local entry = redis.call('HGET', sockets, channel)
  local active = entry and string.match(entry, ' (.*)$') or '0'
  redis.call('HSET', sockets, channel, now .. ' ' .. active)
elseif op == 'close' then
  redis.call('HDEL', sockets, channel)
  redis.call('SET', closed_key, now)
end
local alive, active = 0, false
local entries = redis.call('HGETALL', sockets)
for i = 1, #entries, 2 do
  local beat, last = string.match(entries[i + 1], '^(%S+) (%S+)$')
  if tonumber(beat) < now - socket_for then
    if op ~= 'read' then redis.call('HDEL', sockets, entries[i]) end
  else
    alive = alive + 1
    if tonumber(last) >= now - active_for then active = true end
  end
end
local announced = redis.call('GET', announced_key) or 'offline'
local status
if active then status = 'active'
elseif alive > 0 then status = 'idle'
elseif tonumber(redis.call('GET', closed_key) or '0') >= now - offline_after
       and announced ~= 'offline' then
  status = announced  -- the grace after the last socket closed: a reload is no news
else status = 'offline' end
local seen = redis.call('GET', seen_key) or ''
if op == 'read' then return {0, status, seen} end
if alive == 0 then redis.call('EXPIRE', sockets, socket_for) end
if status ~= announced then
  redis.call('SET', announced_key, status)
  if status == 'offline' then redis.call('SREM', KEYS[5], ARGV[7])
  else redis.call('SADD', KEYS[5], ARGV[7]) end
  return {1, status, seen}
end
return {0, status, seen}
"""


def _script() -> Script:
    return redis_client.script(_SCRIPT, quick=True)


def _online_key() -> str:
    return redis_client.key("presence", "online")


def _keys(user_id: int) -> list[str]:
    return [
        *(
            redis_client.key("presence", part, user_id)
            for part in ("sockets", "seen", "closed", "announced")
        ),
        _online_key(),
    ]


def _args(op: str, channel: str, user_id: int) -> list:
    return [
        op, channel, time.time(), ACTIVE_SECONDS, SOCKET_SECONDS, offline_seconds(), user_id,
    ]  # fmt: skip


def _presence(status: bytes, seen: bytes) -> Presence:
    return Presence(status.decode(), float(seen) if seen else None)


def apply(user_id: int, op: str, channel: str = "") -> Presence | None:
    """Apply one socket's change (`open`, `active`, `idle`, `beat`, `close`, or `check`
    for none) and return the user's presence if it changed, which the caller announces."""
    changed, status, seen = _script()(keys=_keys(user_id), args=_args(op, channel, user_id))
    return _presence(status, seen) if changed else None


def read(user_ids: list[int]) -> dict[int, Presence]:
    """Each user's presence now, in one round trip."""
    pipe = redis_client.client(quick=True).pipeline(transaction=False)
    script = _script()
    for user_id in user_ids:
        script(keys=_keys(user_id), args=_args("read", "", user_id), client=pipe)
    return {
        user_id: _presence(status, seen)
        for user_id, (_, status, seen) in zip(user_ids, pipe.execute(), strict=True)
    }


# Who may see a user's presence: someone who shares an approved conversation with them
# and whom they do not block.
_VISIBLE_SQL = """
SELECT DISTINCT other.user_id
FROM chat_membership AS mine
JOIN chat_membership AS other
  ON other.conversation_id = mine.conversation_id AND other.status = 'approved'
WHERE mine.user_id = %(viewer)s AND mine.status = 'approved'
  AND other.user_id = ANY(%(users)s)
  AND NOT EXISTS (SELECT 1 FROM accounts_block AS b
                  WHERE b.blocker_id = other.user_id AND b.blocked_id = %(viewer)s)
"""


def visible_to(
    *, viewer_id: int, user_ids: list[int], visible: list[int] | None = None
) -> dict[int, Presence]:
    """Each user's presence as `viewer_id` may see it: offline for users who block them or
    share no conversation with them. One query and one Redis round trip; no query when
    the caller already knows which of them pass (`visible`: a members list, whose
    approved members share the conversation, less those who block the reader)."""
    if not user_ids:
        return {}
    if visible is None:
        with connection.cursor() as cursor:
            cursor.execute(_VISIBLE_SQL, {"viewer": viewer_id, "users": user_ids})
            visible = [row[0] for row in cursor.fetchall()]
        if viewer_id in user_ids:
            visible.append(viewer_id)
    try:
        found = read(visible)
    except redis.RedisError:
        # Presence is a nicety: with Redis away, a members list still answers, everyone
        # offline, rather than the request failing.
        logger.warning("presence unknown: Redis is unreachable")
        found = {}
    return {user_id: found.get(user_id, OFFLINE) for user_id in user_ids}


def of_members(*, viewer_id: int, members: list) -> dict[int, Presence]:
    """`visible_to` for a members list (Membership rows): rows from
    chat.selectors.members_visible_to say who blocks the reader, so no query; any other
    row (a member just added or decided on) has it looked up."""
    listed = all(hasattr(m, "blocks_reader") for m in members)
    return visible_to(
        viewer_id=viewer_id,
        user_ids=[m.user_id for m in members],
        visible=[m.user_id for m in members if m.status == "approved" and not m.blocks_reader]
        if listed
        else None,
    )


def announcements(
    user_id: int, presence: Presence, conversation_ids: list[int], hidden_from: list[int]
) -> list[tuple[str, dict]]:
    """The (group, event) pairs that announce a change: one per conversation."""
    event = {
        "type": "chat.presence",
        "user": user_id,
        "hidden_from": hidden_from,
        "presence": [presence.status, presence.last_seen],
        "text": encode(presence.frame(user_id)),
    }
    return [(conversation_group(c), event) for c in conversation_ids]


# The conversations a user is announced in, and whom they block.
_AUDIENCE_SQL = """
SELECT ARRAY(SELECT conversation_id FROM chat_membership
             WHERE user_id = %(user)s AND status = 'approved'),
       ARRAY(SELECT blocked_id FROM accounts_block WHERE blocker_id = %(user)s)
"""


def sweep() -> int:
    """Announce what time alone changed: users whose sockets vanished with their process
    (no close, no heartbeat), and whose last activity is over ACTIVE_SECONDS old with no
    socket left to notice. Returns how many changed. Beat runs it (chat.tasks)."""
    changed = 0
    online: set = redis_client.client(quick=True).smembers(_online_key())  # type: ignore[assignment]
    for raw in online:
        user_id = int(raw)
        found = apply(user_id, "check")
        if found is None:
            continue
        with connection.cursor() as cursor:
            cursor.execute(_AUDIENCE_SQL, {"user": user_id})
            conversation_ids, blocked = cursor.fetchone()
        publish_now(announcements(user_id, found, conversation_ids, sorted(blocked)))
        changed += 1
    return changed
