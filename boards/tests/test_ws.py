"""Board subscriptions over the WebSocket (the Message Board design's frames, verbatim)."""

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from boards import services
from messaging_site.asgi import application

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]
call = database_sync_to_async


async def connect(user):
    socket = WebsocketCommunicator(application, f"/ws/?token={user.auth_token.key}")
    assert (await socket.connect())[0]
    return socket


@pytest.fixture
def board(alice):
    return services.board_create(actor=alice, name="General")


async def test_subscribe_receive_unsubscribe(alice, bob, board):
    socket = await connect(bob)
    await socket.send_json_to({"action": "subscribe", "boardId": board.pk, "userId": 999})
    assert await socket.receive_json_from() == {
        "action": "subscribed",
        "boardId": board.pk,
        "requestId": None,
    }
    post = await call(services.board_post)(actor=alice, board=board, topic="news", data="hello")
    frame = await socket.receive_json_from(timeout=3)
    assert frame == {
        "type": "message",
        "boardId": board.pk,
        "message": {
            "id": post.pk,
            "topic": "news",
            "data": "hello",
            "boardId": board.pk,
            "userId": alice.pk,
            "username": "alice",
            "createdAt": post.created_at.isoformat(),
        },
    }
    await socket.send_json_to({"action": "unsubscribe", "boardId": board.pk})
    assert (await socket.receive_json_from())["action"] == "unsubscribed"
    await call(services.board_post)(actor=alice, board=board, topic="news", data="again")
    assert await socket.receive_nothing(timeout=0.3)
    await socket.disconnect()


async def test_one_connection_many_boards_and_unsubscribed_boards_stay_silent(alice, bob, board):
    other = await call(services.board_create)(actor=alice, name="Other")
    quiet = await call(services.board_create)(actor=alice, name="Quiet")
    socket = await connect(bob)
    for board_id in (board.pk, other.pk):
        await socket.send_json_to({"action": "subscribe", "boardId": board_id})
        await socket.receive_json_from()
    await call(services.board_post)(actor=alice, board=quiet, topic="t", data="unseen")
    await call(services.board_post)(actor=alice, board=other, topic="t", data="seen")
    assert (await socket.receive_json_from(timeout=3))["message"]["data"] == "seen"
    assert await socket.receive_nothing(timeout=0.3)
    await socket.disconnect()


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ({"action": "subscribe", "boardId": 999999}, "not_found"),
        ({"action": "subscribe", "boardId": "1"}, "invalid"),
        ({"action": "subscribe"}, "invalid"),
        ({"action": "unsubscribe", "boardId": None}, "invalid"),
    ],
)
async def test_bad_subscriptions(bob, frame, code):
    socket = await connect(bob)
    await socket.send_json_to(frame)
    reply = await socket.receive_json_from()
    assert (reply["action"], reply["code"]) == ("error", code)
    await socket.disconnect()
