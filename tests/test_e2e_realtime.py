"""The WebSocket protocol through two real Daphne processes sharing Redis, with a real
client (the `websockets` package). One process delays every 5th relayed message event."""

import asyncio
import contextlib
import json
import time
import urllib.request

import pytest
import websockets
from django.db import connection

from chat import memberships, services

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
        memberships.membership_add(actor=alice, conversation=conversation, user_id=user.pk)
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


def rss_kib(pid: int) -> int:
    for line in open(f"/proc/{pid}/status"):  # noqa: SIM115 - a tiny procfs read
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_a_client_that_stops_reading_stalls_nobody_and_catches_up_by_sync(
    django_db_setup, alice, bob, charlie, room
):
    from conftest import _daphne

    with _daphne("daphne-slow", THROTTLES="off") as (address, pid):

        async def scenario():
            slow = await websockets.connect(
                f"ws://{address}/ws/?token={bob.auth_token.key}", max_queue=1
            )
            fast = await open_socket(address, charlie)
            writer = await open_socket(address, alice)
            before = rss_kib(pid)
            latencies = []
            text = "x" * 8000
            for i in range(300):
                sent = time.perf_counter()
                await writer.send(
                    json.dumps(
                        {
                            "action": "sendMessage",
                            "conversationId": room.pk,
                            "message": f"{i}{text}",
                            "clientId": f"s{i}",
                        }
                    )
                )
                while True:
                    frame = json.loads(await asyncio.wait_for(fast.recv(), 10))
                    if frame.get("action") == "message" and frame["seq"] == i + 1:
                        latencies.append(time.perf_counter() - sent)
                        break
            grown = rss_kib(pid) - before
            await asyncio.sleep(30 - sum(latencies))  # the slow client still reads nothing
            # Back: it catches up from the database, whatever its socket buffered.
            caught, after = [], 0
            while True:
                await slow.send(
                    json.dumps(
                        {
                            "action": "sync",
                            "conversationId": room.pk,
                            "afterSeq": after,
                            "limit": 200,
                        }
                    )
                )
                while True:
                    frame = json.loads(await asyncio.wait_for(slow.recv(), 30))
                    if frame.get("action") == "history":
                        break
                caught += [m["seq"] for m in frame["messages"]]
                after = caught[-1] if caught else after
                if not frame["hasMore"]:
                    break
            for socket in (slow, fast, writer):
                await socket.close()
            return sorted(latencies), grown, caught

        latencies, grown_kib, caught = asyncio.run(scenario())
    assert latencies[int(len(latencies) * 0.99)] < 0.5, latencies[-5:]
    assert grown_kib < 64 * 1024, grown_kib  # 2.4 MB went to the slow socket
    assert caught == list(range(1, 301))


def test_reconnect_and_sync_after_the_server_process_restarts(django_db_setup, alice, bob, room):
    from conftest import _daphne

    async def send(address, texts):
        writer = await open_socket(address, alice)
        for text in texts:
            await writer.send(
                json.dumps(
                    {
                        "action": "sendMessage",
                        "conversationId": room.pk,
                        "message": text,
                        "clientId": text,
                    }
                )
            )
        await frames_until(writer, lambda f: sum(x["action"] == "ack" for x in f) == len(texts))
        await writer.close()

    async def receive_then_lose_the_server(address):
        reader = await open_socket(address, bob)
        frames = await frames_until(reader, lambda f: len(seqs(f, room.pk)) == 3)
        return reader, seqs(frames, room.pk)

    with _daphne("daphne-restart", THROTTLES="off") as (address, _):

        async def first_life():
            reader_task = asyncio.ensure_future(receive_then_lose_the_server(address))
            await asyncio.sleep(0.3)
            await send(address, ["a", "b", "c"])
            return await reader_task

        _, seen = asyncio.run(first_life())
    assert seen == [1, 2, 3]
    with _daphne("daphne-restart", THROTTLES="off") as (address, _):

        async def second_life():
            await send(address, ["d", "e"])  # written while bob was away
            back = await open_socket(address, bob)
            await back.send(
                json.dumps({"action": "sync", "conversationId": room.pk, "afterSeq": seen[-1]})
            )
            page = (await frames_until(back, lambda f: any(x["action"] == "history" for x in f)))[
                -1
            ]
            await back.close()
            return [m["message"] for m in page["messages"]]

        assert asyncio.run(second_life()) == ["d", "e"]


def test_board_flow_across_processes(daphne_pair, alice, bob):
    from boards.services import board_create

    board = board_create(actor=alice, name="Cross-process board")
    connection.close()
    faulty, second = daphne_pair

    async def scenario():
        subscriber = await open_socket(second, bob)
        await subscriber.send(json.dumps({"action": "subscribe", "boardId": board.pk}))
        await frames_until(subscriber, lambda f: any(x.get("action") == "subscribed" for x in f))
        poster = await open_socket(faulty, alice)  # a socket keeps the poster signed in
        request = urllib.request.Request(
            f"http://{faulty}/api/boards/{board.pk}/messages/",
            data=json.dumps({"topic": "news", "data": "from process one"}).encode(),
            headers={
                "Content-Type": "application/json",
                "Authorization": f"Token {alice.auth_token.key}",
            },
        )
        await asyncio.to_thread(urllib.request.urlopen, request, timeout=10)
        post = (
            await frames_until(subscriber, lambda f: any(x.get("type") == "message" for x in f))
        )[-1]
        for socket in (subscriber, poster):
            await socket.close()
        return post

    post = asyncio.run(scenario())
    assert post["boardId"] == board.pk
    assert post["message"]["data"] == "from process one"
    assert post["message"]["username"] == "alice"


async def quiet(socket, seconds=1.0):
    """Every frame that arrives within `seconds`."""
    frames = []
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            while True:
                frames.append(json.loads(await socket.recv()))
    return frames


def test_removed_member_gets_no_later_message_on_either_process(daphne_pair, alice, bob, room):
    faulty, second = daphne_pair

    async def scenario():
        tabs = [await open_socket(faulty, bob), await open_socket(second, bob)]
        writer = await open_socket(second, alice)
        await writer.send(
            json.dumps(
                {
                    "action": "sendMessage",
                    "conversationId": room.pk,
                    "message": "before",
                    "clientId": "before",
                }
            )
        )
        for tab in tabs:
            await frames_until(tab, lambda f: 1 in seqs(f, room.pk))
        request = urllib.request.Request(
            f"http://{faulty}/api/conversations/{room.pk}/members/{bob.pk}/",
            method="DELETE",
            headers={"Authorization": f"Token {alice.auth_token.key}"},
        )
        await asyncio.to_thread(urllib.request.urlopen, request, timeout=10)
        for i in range(5):
            await writer.send(
                json.dumps(
                    {
                        "action": "sendMessage",
                        "conversationId": room.pk,
                        "message": f"after{i}",
                        "clientId": f"after{i}",
                    }
                )
            )
        later = [await quiet(tab) for tab in tabs]
        for socket in (*tabs, writer):
            await socket.close()
        return later

    for frames in asyncio.run(scenario()):
        assert [f["status"] for f in frames if f["action"] == "membership"] == ["removed"]
        assert seqs(frames, room.pk) == []


def test_a_stranger_over_websocket_gets_refusals_and_no_frames(daphne_pair, alice, bob, room):
    from accounts.services import user_register

    stranger = user_register(username="stranger", password="a-long-enough-passphrase-42")
    connection.close()
    faulty, second = daphne_pair

    async def scenario():
        socket = await open_socket(second, stranger)
        writer = await open_socket(faulty, alice)
        replies = []
        for frame in (
            {"action": "getMembers", "roomId": room.pk},
            {"action": "sendMessage", "roomId": room.pk, "message": "let me in"},
            {"action": "sync", "conversationId": room.pk, "afterSeq": 0},
            {
                "action": "joinRoom",
                "subAction": "approve",
                "roomId": room.pk,
                "targetUserId": bob.pk,
            },
            {"action": "read", "conversationId": room.pk, "seq": 1},
        ):
            await socket.send(json.dumps({**frame, "requestId": frame["action"]}))
            replies.append(json.loads(await asyncio.wait_for(socket.recv(), 5)))
        await writer.send(
            json.dumps(
                {
                    "action": "sendMessage",
                    "conversationId": room.pk,
                    "message": "members only",
                    "clientId": "m",
                }
            )
        )
        leaked = await quiet(socket)
        for s in (socket, writer):
            await s.close()
        return replies, leaked

    replies, leaked = asyncio.run(scenario())
    assert [(r["action"], r["code"]) for r in replies] == [("error", "forbidden")] * 5
    assert leaked == []


def test_typing_and_presence_across_processes(daphne_pair, alice, bob, room):
    """alice's tabs on both processes, bob on one: each change of hers is heard once,
    whichever process holds the socket that made it."""
    faulty, second = daphne_pair

    def presence_of(frames, status):
        return [f for f in frames if f.get("action") == "presence" and f["status"] == status]

    async def quiet(socket, seconds):
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                return json.loads(await socket.recv())
        return None

    async def scenario():
        watcher = await open_socket(second, bob)
        first_tab = await open_socket(faulty, alice)
        await frames_until(watcher, lambda f: presence_of(f, "active"))
        await first_tab.send(json.dumps({"action": "typing", "conversationId": room.pk}))
        typed = await frames_until(watcher, lambda f: any(x["action"] == "typing" for x in f))
        assert typed[-1] == {
            "action": "typing", "conversationId": room.pk, "userId": alice.pk,
            "username": "alice",
        }  # fmt: skip
        second_tab = await open_socket(second, alice)
        await first_tab.close()
        assert await quiet(watcher, 2.5) is None  # her other tab is open: no news
        await second_tab.send(json.dumps({"action": "presence", "status": "idle"}))
        await frames_until(watcher, lambda f: presence_of(f, "idle"))
        await second_tab.close()
        frames = await frames_until(watcher, lambda f: presence_of(f, "offline"))
        assert [f["userId"] for f in presence_of(frames, "offline")] == [alice.pk]
        await watcher.close()

    asyncio.run(scenario())
