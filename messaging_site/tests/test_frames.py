"""No frame closes a socket (docs/PROTOCOL.md, "Limits"): every string and number in a
frame is checked once, before any action's handler or the database sees it, and what the
server cannot serve is an `invalid` error on a socket that stays open. A fault of the
server's own closes the socket with 1011 and leaves nothing subscribed behind it.

Through the real ASGI stack, PostgreSQL and the Redis channel layer.
"""

import asyncio
import json

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chat import memberships, services
from chat.events import conversation_group
from chat.models import Conversation, Membership, Message
from messaging_site import redis_client
from messaging_site.asgi import application
from messaging_site.consumers import MAX_FRAME_DEPTH, frame_problem
from messaging_site.routing import routes

pytestmark = [pytest.mark.django_db(transaction=True)]
call = database_sync_to_async
TOO_BIG = 2**63  # one past PostgreSQL's bigint


@pytest.fixture
def group(alice, bob):
    conversation = services.conversation_create(actor=alice, kind="group", name="Team")
    memberships.membership_add(actor=alice, conversation=conversation, user_id=bob.pk)
    return conversation


@pytest.fixture
def room(alice, bob):
    return services.conversation_create(actor=bob, kind="room", name="Lobby")


async def connect(user) -> WebsocketCommunicator:
    socket = WebsocketCommunicator(application, f"/ws/?token={user.auth_token.key}")
    connected, _ = await socket.connect()
    assert connected
    return socket


def decoded(output: dict) -> dict:
    assert output["type"] == "websocket.send", f"the socket closed: {output}"
    # Daphne sends text frames as UTF-8: what cannot be encoded kills the socket there.
    output["text"].encode()
    return json.loads(output["text"])


async def assert_open(socket) -> list[dict]:
    """The socket still serves frames: a ping gets its pong. Returns what came before it."""
    await socket.send_json_to({"action": "ping", "requestId": "still-there"})
    seen = []
    while True:
        frame = decoded(await socket.receive_output(timeout=5))
        if frame == {"action": "pong", "requestId": "still-there"}:
            return seen
        seen.append(frame)


def counts() -> tuple[int, int, int]:
    return Message.objects.count(), Conversation.objects.count(), Membership.objects.count()


# The inputs that closed sockets with 1011 before this check existed, one per field kind.
LONE = "\ud800"
MALFORMED = [
    {"action": "sendMessage", "conversationId": None, "message": "a\x00b", "clientId": "c1"},
    {"action": "sendMessage", "conversationId": None, "message": f"a{LONE}b", "clientId": "c2"},
    {"action": "sendMessage", "conversationId": None, "message": "ok", "clientId": "c\x00"},
    {"action": "sendMessage", "conversationId": None, "message": "ok", "clientId": LONE},
    {"action": "sendDirect", "to": None, "message": "x\x00", "clientId": "d1"},
    {"action": "sendDirect", "to": None, "message": LONE, "clientId": "d2"},
    {"action": "createRoom", "roomName": "Chess\x00"},
    {"action": "createRoom", "roomName": f"Chess{LONE}"},
    {"action": "joinRoom", "subAction": "approve", "roomId": None, "targetUserId": "bo\x00b"},
    {"action": "joinRoom", "subAction": "approve", "roomId": None, "targetUserId": LONE},
    {"action": "sendMessage", "conversationId": TOO_BIG, "message": "hi", "clientId": "c3"},
    {"action": "sendMessage", "conversationId": -TOO_BIG, "message": "hi"},
    {"action": "sendDirect", "to": TOO_BIG * 10, "message": "hi"},
    {"action": "sync", "conversationId": None, "afterSeq": TOO_BIG},
    {"action": "read", "conversationId": None, "seq": TOO_BIG},
    {"action": "getMembers", "roomId": TOO_BIG},
    {"action": "subscribe", "boardId": TOO_BIG},
    {"action": "watchCampaign", "campaignId": TOO_BIG},
    {"action": "ping", "requestId": LONE},
    {"action": "ping", "requestId": "\x00"},
    {"action": "ping", "requestId": TOO_BIG},
    {"action": f"ping{LONE}"},
    {"action": "ping", f"key{LONE}": 1},
]


@pytest.mark.asyncio
async def test_malformed_fields_get_invalid_and_change_nothing(alice, bob, group):
    socket = await connect(alice)
    before = await call(counts)()
    for template in MALFORMED:
        frame = {
            key: (group.pk if value is None and key in ("conversationId", "roomId") else value)
            for key, value in template.items()
        }
        if frame.get("to", 0) is None:
            frame["to"] = bob.pk
        text = json.dumps(frame)  # ensure_ascii: a lone surrogate travels as \ud800
        await socket.send_to(text_data=text)
        seen = await assert_open(socket)
        errors = [f for f in seen if f.get("action") == "error"]
        assert [e["code"] for e in errors] == ["invalid"], (frame, seen)
        # A requestId that could not be echoed as it came is not echoed at all.
        assert errors[0]["requestId"] is None
    assert await call(counts)() == before
    await socket.disconnect()


@pytest.mark.asyncio
async def test_requestid_is_echoed_when_another_field_is_bad(alice, group):
    socket = await connect(alice)
    await socket.send_json_to(
        {"action": "sendMessage", "conversationId": group.pk, "message": "a\x00", "requestId": 9}
    )
    error = await socket.receive_json_from(timeout=3)
    assert error == {
        "action": "error",
        "code": "invalid",
        "message": "Text may not contain NUL characters.",
        "requestId": 9,
    }
    await socket.disconnect()


@pytest.mark.asyncio
async def test_deep_nesting_is_invalid_whatever_the_depth(alice):
    socket = await connect(alice)
    for depth in (MAX_FRAME_DEPTH + 1, 5_000, 30_000):  # 30,000 levels: 60 KB, under the limit
        nested = "[" * depth + "]" * depth
        await socket.send_to(text_data=f'{{"action":"ping","requestId":1,"x":{nested}}}')
        [error] = await assert_open(socket)
        assert error["code"] == "invalid"
        assert "nest" in error["message"]
    # At the limit, the frame is served.
    nested = "[" * (MAX_FRAME_DEPTH - 1) + "]" * (MAX_FRAME_DEPTH - 1)
    await socket.send_to(text_data=f'{{"action":"ping","requestId":2,"x":{nested}}}')
    assert await socket.receive_json_from(timeout=3) == {"action": "pong", "requestId": 2}
    await socket.disconnect()


@pytest.mark.asyncio
async def test_nan_and_infinity_are_not_json(alice):
    socket = await connect(alice)
    for literal in ("NaN", "Infinity", "-Infinity"):
        await socket.send_to(text_data=f'{{"action":"ping","requestId":{literal}}}')
        [error] = await assert_open(socket)
        assert error == {
            "action": "error",
            "code": "invalid",
            "message": "Frames must be valid JSON.",
            "requestId": None,
        }
    await socket.disconnect()


@pytest.mark.asyncio
async def test_numbers_past_floats_are_invalid(alice):
    socket = await connect(alice)
    await socket.send_to(text_data='{"action":"ping","requestId":3,"x":1e400}')
    [error] = await assert_open(socket)
    assert error == {
        "action": "error",
        "code": "invalid",
        "message": "Numbers must be finite.",
        "requestId": 3,
    }
    await socket.disconnect()


def test_frame_problem_finds_keys_values_and_items():
    assert frame_problem({"action": "ping", "a": [{"b": ["ok", 1, 2.5, True, None]}]}) is None
    assert frame_problem({"a": [{"b": ["\x00"]}]}) == "Text may not contain NUL characters."
    assert frame_problem({"a": {LONE: 1}}) == "Text may not contain unpaired surrogates."
    assert frame_problem({"a": [[2**63 - 1, -(2**63 - 1)]]}) is None
    assert frame_problem({"a": [[2**63]]}) == "Numbers must fit in 64 bits."
    # A pair of surrogates is one character: fine.
    assert frame_problem(json.loads('{"a": "\\ud83d\\ude00"}')) is None


@pytest.mark.asyncio
async def test_a_server_fault_closes_1011_and_leaves_no_subscription(alice, group, monkeypatch):
    async def broken(socket, frame):
        raise RuntimeError("a bug")

    monkeypatch.setitem(routes.actions, "ping", type(routes.actions["ping"])(broken))
    socket = await connect(alice)
    client = redis_client.client()
    followed = f"*{conversation_group(group.pk)}"
    assert client.pubsub_channels(followed), "the socket follows the group"
    await socket.send_json_to({"action": "ping"})
    output = await socket.receive_output(timeout=3)
    assert output == {"type": "websocket.close", "code": 1011}
    await asyncio.sleep(0.2)
    assert client.pubsub_channels(f"*user.{alice.pk}") == []
    assert client.pubsub_channels(followed) == []
    await socket.disconnect()


# --- fuzzing every action -----------------------------------------------------------------

# "@name" stands for an id of this test's data, so that frames reach past the lookups.
PLACEHOLDERS = ["@alice", "@bob", "@group", "@room"]
scalars = st.one_of(
    st.sampled_from(PLACEHOLDERS),
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
    # Text with a NUL or a lone surrogate somewhere: st.text makes those too, but rarely.
    st.builds(
        lambda head, bad, tail: head + bad + tail,
        st.text(max_size=8),
        st.sampled_from(["\x00", LONE, "\udfff"]),
        st.text(max_size=8),
    ),
    st.sampled_from(
        ["", " ", "request", "approve", "reject", "active", "idle", "\x00", LONE, "a" * 20_000]
    ),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)
# Each action with the fields it reads, so that most frames get past the first check.
ACTION_FIELDS = {
    "ping": [],
    "createRoom": ["roomName"],
    "joinRoom": ["subAction", "roomId", "targetUserId"],
    "enterRoom": ["roomId"],
    "getMembers": ["roomId"],
    "sendMessage": ["conversationId", "roomId", "message", "clientId"],
    "sendDirect": ["to", "message", "clientId"],
    "editMessage": ["conversationId", "id", "message"],
    "deleteMessage": ["conversationId", "id"],
    "react": ["conversationId", "id", "emoji"],
    "unreact": ["conversationId", "id", "emoji"],
    "delivered": ["conversationId", "seq"],
    "read": ["conversationId", "seq"],
    "sync": ["conversationId", "afterSeq", "limit"],
    "typing": ["conversationId"],
    "presence": ["status"],
    "subscribe": ["boardId"],
    "unsubscribe": ["boardId"],
    "watchCampaign": ["campaignId"],
}
bad_text = st.builds(
    lambda head, bad, tail: head + bad + tail,
    st.text(max_size=8),
    st.sampled_from(["\x00", LONE, "\udfff"]),
    st.text(max_size=8),
)
# What a field usually holds, so that a frame reaches its handler's deeper checks and the
# database; `values` adds the shapes no client should send.
TEXT_FIELDS = {"message", "roomName", "clientId"}
ID_FIELDS = {"roomId", "conversationId", "to", "boardId", "campaignId"}


def plausible(name: str):
    if name in TEXT_FIELDS:
        return st.one_of(st.text(max_size=20), bad_text, bad_text)
    if name in ID_FIELDS:
        return st.sampled_from(["@group", "@room", "@bob", "@group", "@room"])
    if name == "targetUserId":
        return st.one_of(st.sampled_from(["@bob", "bob", "@alice"]), bad_text)
    if name == "subAction":
        return st.sampled_from(["request", "approve", "reject"])
    return st.integers(min_value=0, max_value=5)


def frames_of(action: str):
    return st.fixed_dictionaries(
        {
            "action": st.just(action),
            **{name: plausible(name) | values for name in ACTION_FIELDS[action]},
        },
        optional={"requestId": values, "userId": values},
    )


frames = st.sampled_from(sorted(routes.actions)).flatmap(frames_of)


def test_the_fuzzer_knows_every_action():
    assert set(ACTION_FIELDS) == set(routes.actions)


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batch=st.lists(frames, min_size=1, max_size=12))
def test_no_frame_closes_the_socket(alice, bob, group, room, batch):
    ids = {"@alice": alice.pk, "@bob": bob.pk, "@group": group.pk, "@room": room.pk}

    def fill(value):
        if isinstance(value, str):
            return ids.get(value, value)
        if isinstance(value, list):
            return [fill(item) for item in value]
        if isinstance(value, dict):
            return {key: fill(item) for key, item in value.items()}
        return value

    async def run():
        socket = await connect(alice)
        for frame in batch:
            await socket.send_to(text_data=json.dumps(fill(frame)))
        await assert_open(socket)
        await socket.disconnect()

    async_to_sync(run)()
