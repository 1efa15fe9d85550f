"""Redis lost while sockets are open (SPEC section 15): through a real Daphne process on a
Redis of the test's own, killed and restarted empty, and paused. Every event committed
meanwhile (messages, a user added to the group) reaches every socket still open within
2 s of Redis answering again, and the sockets keep receiving afterwards. The full-size
version, ten members and ten runs of each fault, is `make reliability`."""

import asyncio
import json
import os
import signal
import subprocess
import time
import urllib.request

import pytest
import redis
import websockets
from django.db import connection

from boards import services as boards
from chat import memberships, services
from conftest import _daphne, _free_port

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


class PrivateRedis:
    """A redis-server on its own port, which the test may kill, restart and pause."""

    def __init__(self):
        self.port = _free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        self.process = subprocess.Popen(
            ["/usr/bin/redis-server", "--port", str(self.port), "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                client.ping()
                return
            except redis.exceptions.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def kill(self):
        self.process.kill()
        self.process.wait()

    def pause(self, paused: bool):
        os.kill(self.process.pid, signal.SIGSTOP if paused else signal.SIGCONT)


@pytest.fixture
def private_redis():
    server = PrivateRedis()
    server.start()
    yield server
    if server.process.poll() is None:
        server.pause(False)
        server.kill()


def rest(address, user, path, payload):
    request = urllib.request.Request(
        f"http://{address}{path}",
        data=json.dumps(payload).encode(),
        headers={
            "Content-Type": "application/json",
            "Authorization": f"Token {user.auth_token.key}",
        },
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - http:// only
        return response.status, json.loads(response.read())


async def collect(socket, frames, stop):
    while not stop.is_set():
        try:
            frames.append(json.loads(await asyncio.wait_for(socket.recv(), 0.2)))
        except TimeoutError:
            continue


def texts(frames, conversation_id):
    return [
        f["message"]
        for f in frames
        if f.get("action") == "message" and f["conversationId"] == conversation_id
    ]


def write_elsewhere(bob, alice, charlie, group, board):
    """As another process would, whose publishes were lost: the test process publishes to
    its own Redis, which no socket of this Daphne listens to. Only the sockets' catch-up
    from the database can bring them these."""
    for n in range(3):
        services.message_send(
            sender=bob, conversation_id=group.pk, text=f"during {n}", client_id=f"d{n}"
        )
    memberships.membership_add(actor=alice, conversation=group, user_id=charlie.pk)
    boards.board_post(actor=bob, board=board, topic="news", data="posted during")
    connection.close()
    return [201] * 5


@pytest.mark.parametrize("writer", ["rest", "elsewhere"])
@pytest.mark.parametrize("fault", ["restart", "pause"])
def test_what_was_committed_during_an_outage_reaches_every_open_socket(
    private_redis, fault, writer, alice, bob, charlie
):
    group = services.conversation_create(actor=alice, kind="group", name="Outage")
    memberships.membership_add(actor=alice, conversation=group, user_id=bob.pk)
    board = boards.board_create(actor=alice, name="Outage board")
    connection.close()

    with _daphne(f"outage-{fault}", TEST_REDIS_URL=private_redis.url, THROTTLES="off") as (
        address,
        _,
    ):

        async def scenario():
            sockets = {
                user.username: await websockets.connect(
                    f"ws://{address}/ws/?token={user.auth_token.key}"
                )
                for user in (alice, bob, charlie)
            }
            frames = {name: [] for name in sockets}
            stop = asyncio.Event()
            readers = [
                asyncio.create_task(collect(socket, frames[name], stop))
                for name, socket in sockets.items()
            ]
            await sockets["alice"].send(json.dumps({"action": "subscribe", "boardId": board.pk}))
            await asyncio.sleep(1.5)  # the layer watch has probed: healthy

            if fault == "restart":
                private_redis.kill()
            else:
                private_redis.pause(True)
            await asyncio.sleep(0.5)
            written = []
            if writer == "elsewhere":
                written = await asyncio.to_thread(
                    write_elsewhere, bob, alice, charlie, group, board
                )
            for n in range(3 if writer == "rest" else 0):
                status, _ = await asyncio.to_thread(
                    rest, address, bob, f"/api/conversations/{group.pk}/messages/",
                    {"text": f"during {n}", "client_id": f"d{n}"},
                )  # fmt: skip
                written.append(status)
            if writer == "rest":
                status, _ = await asyncio.to_thread(
                    rest, address, alice, f"/api/conversations/{group.pk}/members/",
                    {"user_id": charlie.pk},
                )  # fmt: skip
                written.append(status)
                status, _ = await asyncio.to_thread(
                    rest, address, bob, f"/api/boards/{board.pk}/messages/",
                    {"topic": "news", "data": "posted during"},
                )  # fmt: skip
                written.append(status)
            await asyncio.sleep(2.5)
            if fault == "restart":
                private_redis.start()
            else:
                private_redis.pause(False)
            await asyncio.sleep(2.0)  # the goal: everything within 2 s of the return
            during = {name: texts(frames[name], group.pk) for name in frames}
            added = {
                name: [
                    f["status"]
                    for f in frames[name]
                    if f.get("action") == "membership" and f["userId"] == charlie.pk
                ]
                for name in frames
            }
            posts = [f["message"]["data"] for f in frames["alice"] if f.get("type") == "message"]
            await asyncio.to_thread(
                rest, address, bob, f"/api/conversations/{group.pk}/messages/",
                {"text": "after", "client_id": "after"},
            )  # fmt: skip
            await asyncio.sleep(1.5)
            stop.set()
            await asyncio.gather(*readers)
            for socket in sockets.values():
                await socket.close()
            final = {n: texts(f, group.pk) for n, f in frames.items()}
            return written, during, added, posts, final

        written, during, added, posts, final = asyncio.run(scenario())

    assert written == [201, 201, 201, 201, 201]
    assert posts == ["posted during"]  # the board post, once
    expected = ["during 0", "during 1", "during 2"]
    assert during["alice"] == expected
    # bob sent them over REST: his socket sees them too (it did not send them itself)
    assert during["bob"] == expected
    # the change, once, to the user concerned and to the members
    assert added == {"alice": ["approved"], "bob": ["approved"], "charlie": ["approved"]}
    # charlie joined after the three: what comes after the join, live
    assert final["charlie"] == ["after"]
    assert final["alice"] == [*expected, "after"]
    assert final["bob"] == [*expected, "after"]
