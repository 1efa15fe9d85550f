"""The board side of the WebSocket protocol (docs/PROTOCOL.md, "Boards"): subscribe,
unsubscribe, live posts."""

from __future__ import annotations

from dataclasses import dataclass, field

from messaging_site.consumers import Consumer, Frame, StartsEmpty, positive_int
from messaging_site.db import db_call

from . import selectors
from .events import board_group


@dataclass
class Subscriptions(StartsEmpty):
    """The boards one socket is subscribed to; closing the socket drops them all."""

    boards: set[int] = field(default_factory=set)


async def subscribe(socket: Consumer, frame: Frame) -> None:
    board_id = positive_int(frame, "boardId")
    await db_call(selectors.board_get)(board_id=board_id, with_message_count=False)
    await socket.join_group(board_group(board_id))
    socket.state(Subscriptions).boards.add(board_id)
    await socket.send_json(
        {"action": "subscribed", "boardId": board_id, "requestId": frame["requestId"]}
    )


async def unsubscribe(socket: Consumer, frame: Frame) -> None:
    board_id = positive_int(frame, "boardId")
    subscribed = socket.state(Subscriptions).boards
    if board_id in subscribed:
        subscribed.discard(board_id)
        await socket.leave_group(board_group(board_id))
    await socket.send_json(
        {"action": "unsubscribed", "boardId": board_id, "requestId": frame["requestId"]}
    )


async def relay_post(socket: Consumer, event: Frame) -> None:
    """`board.message`: a new post, to a socket subscribed to its board."""
    await socket.send(text_data=event["text"])
