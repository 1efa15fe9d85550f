"""The board side of the WebSocket protocol (docs/PROTOCOL.md, "Boards"): subscribe,
unsubscribe, live posts."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime

from messaging_site.consumers import Consumer, Frame, StartsEmpty, positive_int
from messaging_site.db import db_call

from . import selectors
from .events import board_group, encode, post_frame

# Posts get their ids before they commit, so one may commit (and be relayed) after a
# post with a higher id: a catch-up looks this far below the highest id it has seen, and
# the ids recently passed on keep it from sending one twice.
CATCH_UP_OVERLAP = 50
RECENT_IDS = 500


@dataclass
class Subscriptions(StartsEmpty):
    """The boards one socket is subscribed to; closing the socket drops them all."""

    boards: set[int] = field(default_factory=set)
    # Per board, the highest post id it has seen (at subscribe: the board's newest).
    newest: dict[int, int] = field(default_factory=dict)
    recent: deque[int] = field(default_factory=lambda: deque(maxlen=RECENT_IDS))

    def passed_on(self, board_id: int, post_id: int) -> bool:
        """Record a post going out; False if it already went out."""
        if post_id in self.recent:
            return False
        self.recent.append(post_id)
        self.newest[board_id] = max(self.newest.get(board_id, 0), post_id)
        return True

    async def catch_up(self, socket: Consumer, since: datetime) -> None:
        """After a channel-layer outage: the posts the socket missed, oldest first."""
        for board_id in sorted(self.boards):
            after = self.newest.get(board_id, 0) - CATCH_UP_OVERLAP
            for post in await _posts_after(board_id=board_id, after_id=after):
                if self.passed_on(board_id, post.pk):
                    await socket.send(text_data=encode(post_frame(post)))


async def subscribe(socket: Consumer, frame: Frame) -> None:
    board_id = positive_int(frame, "boardId")
    await db_call(selectors.board_get)(board_id=board_id, with_message_count=False)
    await socket.join_group(board_group(board_id))
    subscriptions = socket.state(Subscriptions)
    if board_id not in subscriptions.boards:
        subscriptions.boards.add(board_id)
        subscriptions.newest[board_id] = await _newest_id(board_id=board_id)
    await socket.send_json(
        {"action": "subscribed", "boardId": board_id, "requestId": frame["requestId"]}
    )


async def unsubscribe(socket: Consumer, frame: Frame) -> None:
    board_id = positive_int(frame, "boardId")
    subscribed = socket.state(Subscriptions).boards
    if board_id in subscribed:
        subscribed.discard(board_id)
        socket.state(Subscriptions).newest.pop(board_id, None)
        await socket.leave_group(board_group(board_id))
    await socket.send_json(
        {"action": "unsubscribed", "boardId": board_id, "requestId": frame["requestId"]}
    )


async def relay_post(socket: Consumer, event: Frame) -> None:
    """`board.message`: a new post, to a socket subscribed to its board."""
    if socket.state(Subscriptions).passed_on(event["board"], event["id"]):
        await socket.send(text_data=event["text"])


_posts_after = db_call(selectors.posts_after)
_newest_id = db_call(selectors.newest_post_id)
