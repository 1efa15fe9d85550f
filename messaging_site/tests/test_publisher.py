"""Publishing after commit from the server's threads (messaging_site.realtime): in order,
without holding the committing thread, and never lost to an exception in the caller."""

import asyncio
import logging
import threading

import pytest
import pytest_asyncio
from channels.layers import get_channel_layer

from messaging_site import realtime
from messaging_site.db import db_call

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]
GROUP = "publisher.test"


@pytest_asyncio.fixture
async def listener():
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(GROUP, channel)
    yield layer, channel
    await layer.group_discard(GROUP, channel)


@pytest.fixture
def held(monkeypatch):
    """Publishes wait until `release` is set: what the committing thread sees of them."""
    layer = get_channel_layer()
    real = layer.group_send
    release = asyncio.Event()

    async def group_send(group, message):
        await release.wait()
        await real(group, message)

    monkeypatch.setattr(layer, "group_send", group_send)
    return release


def events(*numbers):
    return [(GROUP, {"type": "test.event", "n": n}) for n in numbers]


async def test_a_commit_does_not_wait_for_its_publish_and_order_holds(listener, held):
    layer, channel = listener

    @db_call
    def commit_each():
        for n in range(20):  # autocommit: each on_commit hook runs at once
            realtime.publish_on_commit(events(n))
        return "returned"

    # Every publish is held, yet the thread is done: nothing it committed waits on Redis.
    assert await asyncio.wait_for(commit_each(), timeout=5) == "returned"
    held.set()
    received = [(await layer.receive(channel))["n"] for _ in range(20)]
    assert received == list(range(20))


async def test_a_publish_before_commit_waits_for_its_turn_behind_earlier_publishes(listener, held):
    layer, channel = listener
    finished = threading.Event()

    @db_call
    def commit_then_revoke():
        realtime.publish_on_commit(events(1))
        realtime.publish_before_commit(events(2))  # a revocation: out before the thread goes on
        finished.set()

    task = asyncio.ensure_future(commit_then_revoke())
    await asyncio.sleep(0.2)
    assert not finished.is_set()  # held behind event 1, which is held
    held.set()
    await asyncio.wait_for(task, timeout=5)
    assert [(await layer.receive(channel))["n"] for _ in range(2)] == [1, 2]


@pytest.fixture
def outage(monkeypatch):
    """Redis unreachable for group_send until `outage["on"]` is cleared; `outage["calls"]`
    lists the test events that went out after."""
    layer = get_channel_layer()
    real = layer.group_send
    state = {"on": True, "calls": []}

    async def group_send(group, message):
        if state["on"]:
            raise ConnectionError("redis went away")
        if "n" in message:
            state["calls"].append(message["n"])
        await real(group, message)

    monkeypatch.setattr(layer, "group_send", group_send)
    yield state
    state["on"] = False


async def test_a_failed_publish_goes_out_once_the_layer_answers_and_order_holds(
    listener, outage, caplog
):
    """Redis unreachable at the publish: the batch, and those after it, wait for the
    layer watch to hear its own probe again, then go out in order."""
    layer, channel = listener

    @db_call
    def commit_two():
        realtime.publish_on_commit(events(1))
        realtime.publish_on_commit(events(2))

    with caplog.at_level(logging.WARNING, logger="messaging_site.realtime"):
        await commit_two()  # the rows are committed: the caller is not told
        await asyncio.sleep(1.0)
        assert outage["calls"] == []
        outage["on"] = False
        received = [(await asyncio.wait_for(layer.receive(channel), timeout=5))["n"] for _ in "ab"]
    assert received == [1, 2]
    assert outage["calls"] == [1, 2]
    assert "publish failed after commit" in caplog.text


async def test_during_an_outage_a_waiting_publish_fails_at_once(listener, outage):
    @db_call
    def commit_then_revoke():
        realtime.publish_on_commit(events(1))
        realtime.publish_before_commit(events(2))

    with pytest.raises(ConnectionError):
        await asyncio.wait_for(commit_then_revoke(), timeout=3)


async def test_outside_the_server_a_publish_is_done_before_the_call_returns(listener):
    layer, channel = listener

    def plain_thread():  # a Celery task or a management command: no loop to hand over to
        realtime.publish_on_commit(events(7))

    thread = threading.Thread(target=plain_thread)
    thread.start()
    await asyncio.get_running_loop().run_in_executor(None, thread.join)
    assert (await asyncio.wait_for(layer.receive(channel), timeout=5))["n"] == 7
