"""The WebSocket protocol through two real Daphne processes sharing Redis, with a real
client (the `websockets` package). One process delays every 5th relayed message event."""

import asyncio
import json

import pytest
import websockets
from django.db import connection

from chat import services

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


async def open_socket(address, user):
    return await websockets.connect(f"ws://{address}/ws/?token={user.auth_token.key}")


async def frames_until(socket, predicate):
    """Collect frames until `predicate(frames)` holds."""
    frames = []
    async with asyncio.timeout(15):
        while not predicate(frames):
            frames.append(json.loads(await socket.recv()))
    return frames


def seqs(frames, conversation_id):
    return [
        f["seq"]
        for f in frames
        if f.get("action") == "message" and f["conversationId"] == conversation_id
    ]


@pytest.fixture
def room(alice, bob, charlie):
    conversation = services.conversation_create(actor=alice, kind="room", name="Two servers")
    for user in (bob, charlie):
        services.membership_add(actor=alice, conversation=conversation, user_id=user.pk)
    connection.close()
    return conversation


def test_two_senders_on_two_processes_race_and_every_socket_gets_1_to_200_in_order(
    daphne_pair, alice, bob, charlie, room
):
    faulty, second = daphne_pair

    def complete(frames):
        """A sender's view: its 100 acks, and the other sender's 100 messages."""
        return (
            sum(f["action"] == "ack" for f in frames) == 100 and len(seqs(frames, room.pk)) == 100
        )

    async def send_hundred(socket, tag):
        for i in range(100):
            await socket.send(
                json.dumps(
                    {
                        "action": "sendMessage",
                        "conversationId": room.pk,
                        "message": f"{tag}{i}",
                        "clientId": f"{tag}-{i}",
                    }
                )
            )

    async def scenario():
        readers = [await open_socket(faulty, charlie), await open_socket(second, charlie)]
        senders = [await open_socket(faulty, alice), await open_socket(second, bob)]
        await asyncio.gather(*(send_hundred(s, tag) for s, tag in zip(senders, "ab", strict=True)))
        sent = await asyncio.gather(*(frames_until(s, complete) for s in senders))
        received = await asyncio.gather(
            *(frames_until(r, lambda frames: len(seqs(frames, room.pk)) >= 200) for r in readers)
        )
        for socket in readers + senders:
            await socket.close()
        return sent, received

    sent, received = asyncio.run(scenario())
    for frames in received:
        assert seqs(frames, room.pk) == list(range(1, 201))
    for frames in sent:
        others = seqs(frames, room.pk)
        acked = [f["seq"] for f in frames if f["action"] == "ack"]
        assert others == sorted(set(others))  # in order, no duplicate
        assert sorted(others + acked) == list(range(1, 201))


def test_room_flow_across_processes(daphne_pair, alice, bob, charlie):
    faulty, second = daphne_pair

    async def scenario():
        admin = await open_socket(faulty, alice)
        applicant = await open_socket(second, bob)
        await admin.send(json.dumps({"action": "createRoom", "roomName": "Cross"}))
        created = (
            await frames_until(admin, lambda f: any(x["action"] == "roomCreated" for x in f))
        )[-1]
        room_id = created["roomId"]
        await applicant.send(
            json.dumps({"action": "joinRoom", "subAction": "request", "roomId": room_id})
        )
        await frames_until(admin, lambda f: any(x["action"] == "joinRequest" for x in f))
        await admin.send(
            json.dumps(
                {
                    "action": "joinRoom",
                    "subAction": "approve",
                    "roomId": room_id,
                    "targetUserId": bob.pk,
                }
            )
        )
        answers = await frames_until(
            applicant,
            lambda f: any(
                x.get("action") == "joinResponse" and x["status"] == "approved" for x in f
            ),
        )
        assert any(x["action"] == "joinResponse" and x["status"] == "pending" for x in answers)
        await admin.send(
            json.dumps(
                {"action": "sendMessage", "roomId": room_id, "message": "welcome", "clientId": "w"}
            )
        )
        got = await frames_until(applicant, lambda f: any(x.get("action") == "message" for x in f))
        assert got[-1]["message"] == "welcome"
        await applicant.send(
            json.dumps(
                {"action": "sendDirect", "to": alice.pk, "message": "thanks", "clientId": "t"}
            )
        )
        direct = await frames_until(
            admin, lambda f: any(x.get("action") == "message" and x["kind"] == "direct" for x in f)
        )
        assert direct[-1]["message"] == "thanks"
        for socket in (admin, applicant):
            await socket.close()

    asyncio.run(scenario())


def test_reconnect_and_sync_catches_up(daphne_pair, alice, bob, room):
    faulty, second = daphne_pair

    async def scenario():
        reader = await open_socket(second, bob)
        await reader.close()  # offline
        writer = await open_socket(faulty, alice)
        for i in range(12):
            await writer.send(
                json.dumps(
                    {
                        "action": "sendMessage",
                        "conversationId": room.pk,
                        "message": f"m{i}",
                        "clientId": f"c{i}",
                    }
                )
            )
        await frames_until(writer, lambda f: sum(x["action"] == "ack" for x in f) == 12)
        reader = await open_socket(faulty, bob)  # back, on the other process
        history, after = [], 0
        while True:
            await reader.send(
                json.dumps(
                    {"action": "sync", "conversationId": room.pk, "afterSeq": after, "limit": 5}
                )
            )
            page = (await frames_until(reader, lambda f: any(x["action"] == "history" for x in f)))[
                -1
            ]
            history += [m["seq"] for m in page["messages"]]
            after = history[-1]
            if not page["hasMore"]:
                break
        for socket in (reader, writer):
            await socket.close()
        return history

    assert asyncio.run(scenario()) == list(range(1, 13))
