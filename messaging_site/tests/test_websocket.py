"""The /ws/ handshake and frame rules, through the real ASGI stack and Redis channel layer."""

import json

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.test import Client

from accounts.services import users_deactivate
from conftest import PASSWORD
from messaging_site.asgi import application
from messaging_site.consumers import MAX_FRAME_BYTES

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]
User = get_user_model()


@pytest.fixture
def token(alice):
    return alice.auth_token.key


def communicator(path="/ws/", headers=()):
    return WebsocketCommunicator(application, path, headers=list(headers))


async def connected(path="/ws/", headers=()):
    socket = communicator(path, headers)
    accepted, close_code = await socket.connect()
    assert accepted, close_code
    return socket


async def assert_closed_with(socket, code):
    output = await socket.receive_output(timeout=3)
    assert output == {"type": "websocket.close", "code": code}


async def test_token_in_query_string_connects(token):
    socket = await connected(f"/ws/?token={token}")
    assert await socket.receive_nothing(timeout=0.2)
    await socket.disconnect()


async def test_token_in_authorization_header_connects(token):
    socket = await connected(headers=[(b"authorization", f"Token {token}".encode())])
    assert await socket.receive_nothing(timeout=0.2)
    await socket.disconnect()


async def test_anonymous_socket_is_accepted_then_closed_4401(db):
    socket = communicator()
    accepted, _ = await socket.connect()
    assert accepted
    await assert_closed_with(socket, 4401)


async def test_wrong_token_is_closed_4401(alice):
    socket = communicator("/ws/?token=nope")
    accepted, _ = await socket.connect()
    assert accepted
    await assert_closed_with(socket, 4401)


async def test_inactive_users_token_is_closed_4401(alice, token):
    alice.is_active = False
    await database_sync_to_async(alice.save)()
    socket = communicator(f"/ws/?token={token}")
    await socket.connect()
    await assert_closed_with(socket, 4401)


@database_sync_to_async
def session_cookie_for(username):
    browser = Client()
    assert browser.login(username=username, password=PASSWORD)
    return f"sessionid={browser.cookies['sessionid'].value}".encode()


async def test_session_cookie_with_our_origin_connects(alice):
    cookie = await session_cookie_for("alice")
    socket = await connected(headers=[(b"cookie", cookie), (b"origin", b"http://localhost:8000")])
    assert await socket.receive_nothing(timeout=0.2)
    await socket.disconnect()


async def test_foreign_origin_is_refused_at_the_handshake(alice, token):
    cookie = await session_cookie_for("alice")
    for headers in (
        [(b"cookie", cookie), (b"origin", b"https://evil.example")],
        [(b"origin", b"https://evil.example")],
    ):
        socket = communicator(f"/ws/?token={token}", headers)
        accepted, _ = await socket.connect()
        assert not accepted
        await socket.disconnect()


async def test_session_cookie_without_origin_does_not_authenticate(alice):
    cookie = await session_cookie_for("alice")
    socket = communicator(headers=[(b"cookie", cookie)])
    accepted, _ = await socket.connect()
    assert accepted
    await assert_closed_with(socket, 4401)


async def test_unknown_action_is_an_error_and_request_id_is_echoed(token):
    socket = await connected(f"/ws/?token={token}")
    await socket.send_json_to({"action": "makeCoffee", "requestId": "r1"})
    assert await socket.receive_json_from() == {
        "action": "error",
        "code": "unknown_action",
        "message": "Unknown action 'makeCoffee'.",
        "requestId": "r1",
    }
    await socket.disconnect()


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("not json", "invalid"),
        ("[1, 2]", "invalid"),
        ('"text"', "invalid"),
        ("{}", "invalid"),
        ('{"action": 5}', "invalid"),
        ("{" + '"action": "x", "pad": "' + "a" * MAX_FRAME_BYTES + '"}', "too_large"),
        ('{"action": "x", "pad": "' + "é" * (MAX_FRAME_BYTES // 2) + '"}', "too_large"),
    ],
    ids=["not-json", "array", "string", "no-action", "action-not-string", "over-64k", "multibyte"],
)
async def test_bad_frames_get_an_error_and_the_socket_stays_open(token, frame, code):
    socket = await connected(f"/ws/?token={token}")
    await socket.send_to(text_data=frame)
    reply = await socket.receive_json_from()
    assert reply["action"] == "error"
    assert reply["code"] == code
    assert reply["requestId"] is None
    # Still open and still answering.
    await socket.send_json_to({"action": "ping", "requestId": 7})
    assert (await socket.receive_json_from())["requestId"] == 7
    await socket.disconnect()


async def test_ping_answers_pong(token):
    socket = await connected(f"/ws/?token={token}")
    await socket.send_json_to({"action": "ping", "requestId": "p1"})
    assert await socket.receive_json_from() == {"action": "pong", "requestId": "p1"}
    await socket.disconnect()


async def test_binary_frames_are_invalid(token):
    socket = await connected(f"/ws/?token={token}")
    await socket.send_to(bytes_data=b"\x00\x01")
    assert (await socket.receive_json_from())["code"] == "invalid"
    await socket.disconnect()


async def test_deactivation_closes_the_users_open_sockets(alice, bob, token):
    mine = await connected(f"/ws/?token={token}")
    second_tab = await connected(f"/ws/?token={token}")
    theirs = await connected(f"/ws/?token={bob.auth_token.key}")
    await database_sync_to_async(users_deactivate)(actor=alice, users=[alice])
    await assert_closed_with(mine, 4401)
    await assert_closed_with(second_tab, 4401)
    assert await theirs.receive_nothing(timeout=0.3)
    await theirs.send_to(text_data=json.dumps({"action": "x"}))
    assert (await theirs.receive_json_from())["code"] == "unknown_action"
    await theirs.disconnect()


async def test_listed_websocket_origins_replace_allowed_hosts(settings, alice):
    from channels.routing import URLRouter

    from messaging_site.routing import websocket_urlpatterns
    from messaging_site.websocket import websocket_stack

    settings.ALLOWED_HOSTS = ["*"]
    settings.WEBSOCKET_ALLOWED_ORIGINS = ["https://chat.example.com"]
    stack = websocket_stack(URLRouter(websocket_urlpatterns))
    token = await database_sync_to_async(lambda: alice.auth_token.key)()
    for origin, accepted in (
        (b"https://chat.example.com", True),
        (b"https://evil.example", False),
        (b"http://chat.example.com", False),
    ):
        socket = WebsocketCommunicator(
            stack, f"/ws/?token={token}", headers=[(b"origin", origin), (b"host", b"x")]
        )
        connected, _ = await socket.connect()
        assert connected is accepted, origin
        await socket.disconnect()
