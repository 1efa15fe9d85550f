"""The board frames of docs/PROTOCOL.md ("Boards": the Message Board design's shapes,
verbatim). Group `board.<id>`: the sockets subscribed to one board."""

import json

from messaging_site.realtime import publish_on_commit

from .models import BoardMessage


def board_group(board_id: int) -> str:
    return f"board.{board_id}"


def post_frame(message: BoardMessage) -> dict:
    return {
        "type": "message",
        "boardId": message.board_id,
        "message": {
            "id": message.pk,
            "topic": message.topic,
            "data": message.data,
            "boardId": message.board_id,
            "userId": message.user_id,
            "username": message.user.username,
            "createdAt": message.created_at.isoformat(),
        },
    }


def encode(frame: dict) -> str:
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False)


def posted(message: BoardMessage) -> None:
    """After commit: to every socket subscribed to the board, encoded once."""
    event = {
        "type": "board.message",
        "board": message.board_id,
        "id": message.pk,
        "text": encode(post_frame(message)),
    }
    publish_on_commit([(board_group(message.board_id), event)])
