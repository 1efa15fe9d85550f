"""The board side of the WebSocket protocol: subscribe, unsubscribe, live posts."""

from messaging_site.consumers import ON_CONNECT, RELAYS, action
from messaging_site.db import db_call
from messaging_site.errors import Invalid
from messaging_site.realtime import board_group

from . import selectors


async def on_connect(consumer) -> None:
    consumer.boards = set()


ON_CONNECT.append(on_connect)


def _board_id(frame) -> int:
    value = frame.get("boardId")
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise Invalid("`boardId` must be a positive integer.")
    return value


@action("subscribe")
async def subscribe(consumer, frame):
    board_id = _board_id(frame)
    await db_call(selectors.board_get)(board_id=board_id, with_message_count=False)
    await consumer.join_group(board_group(board_id))
    consumer.boards.add(board_id)
    await consumer.send_json(
        {"action": "subscribed", "boardId": board_id, "requestId": frame["requestId"]}
    )


@action("unsubscribe")
async def unsubscribe(consumer, frame):
    board_id = _board_id(frame)
    if board_id in consumer.boards:
        consumer.boards.discard(board_id)
        await consumer.leave_group(board_group(board_id))
    await consumer.send_json(
        {"action": "unsubscribed", "boardId": board_id, "requestId": frame["requestId"]}
    )


async def relay_post(consumer, event):
    await consumer.send(text_data=event["text"])


RELAYS["board.message"] = relay_post
