"""The conversation list and the inbox (chat.listing): what they hold, messages shaped
exactly as history answers them, and the keyset cursor walking both ways at any page
size without losing or repeating a conversation."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from accounts.services import block_create
from chat import listing, memberships, services
from chat.models import Conversation, Message
from chat.serializers import (
    ConversationListItemSerializer,
    InboxItemSerializer,
    PeerSerializer,
)

pytestmark = pytest.mark.django_db

TRICKY = 'quote " backslash \\ tab\t newline\n </script> <b>x</b> \x01 émoji 🎉 ﷽'


@pytest.fixture
def world(alice, bob, charlie, make_user, send):
    """bob's conversations, covering every rule the list and the inbox apply."""
    dave, erin, frank = make_user("dave"), make_user("erin"), make_user("frank")
    block_create(blocker=bob, blocked_id=charlie.pk)

    team = services.conversation_create(actor=alice, kind="group", name="Team")
    for user in (bob, charlie):
        memberships.membership_add(actor=alice, conversation=team, user_id=user.pk)
    send(alice, team, "a1")
    send(bob, team, "bob's own")
    send(charlie, team, "from a blocked sender")
    gone = send(alice, team, "tombstoned")
    services.message_tombstone(actor=alice, message=gone)
    send(alice, team, TRICKY)
    orphan = send(alice, team, "sender since deleted")
    Message.objects.filter(pk=orphan.pk).update(sender=None)
    send(charlie, team, "blocked sender again: not the last message bob sees")

    lobby = services.conversation_create(actor=alice, kind="room", name="Lobby <i>")
    memberships.membership_request(actor=bob, conversation=lobby)
    memberships.membership_approve(actor=alice, conversation=lobby, user_id=bob.pk)
    for i in range(55):  # more than the inbox's 50
        send(alice, lobby, f"lobby {i}")

    caught_up = services.conversation_create(actor=alice, kind="group", name="Caught up")
    memberships.membership_add(actor=alice, conversation=caught_up, user_id=bob.pk)
    send(alice, caught_up, "read already")
    send(bob, caught_up, "my reply marks it read")

    empty = services.conversation_create(actor=bob, kind="group", name="Empty")

    pending = services.conversation_create(actor=erin, kind="room", name="Pending")
    send(erin, pending, "bob may not read this yet")
    memberships.membership_request(actor=bob, conversation=pending)

    services.direct_message_send(sender=dave, recipient_id=bob.pk, text="hi from dave")
    services.direct_message_send(sender=frank, recipient_id=bob.pk, text="hi from frank")
    services.direct_message_send(sender=bob, recipient_id=erin.pk, text="bob wrote first")

    # Whole-second timestamps (DRF leaves out the microseconds) and ties in activity, which
    # only the conversation id breaks.
    tie = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    direct_ids = Conversation.objects.filter(kind="direct").values_list("pk", flat=True)
    Conversation.objects.filter(pk__in=direct_ids).update(last_message_at=tie)
    Message.objects.filter(conversation_id__in=direct_ids).update(created_at=tie)
    Conversation.objects.filter(pk=empty.pk).update(created_at=tie - timedelta(days=1))
    return {"team": team, "lobby": lobby, "caught_up": caught_up, "empty": empty}


def _walk(user, *, inbox, limit):
    """Every page forwards, then every page backwards from the last one."""
    pages, cursor = [], None
    while True:
        page = listing.conversation_page(user=user, cursor=cursor, limit=limit, inbox=inbox)
        pages.append(page)
        if page.next is None:
            break
        cursor = page.next
    back = [pages[-1]]
    while back[-1].previous is not None:
        back.append(
            listing.conversation_page(user=user, cursor=back[-1].previous, limit=limit, inbox=inbox)
        )
    return pages, back


def _items(page):
    return json.loads(page.results)


@pytest.mark.parametrize("inbox", [False, True], ids=["list", "inbox"])
@pytest.mark.parametrize("limit", [1, 2, 3, 50])
def test_cursor_walks_each_conversation_once_both_ways(world, bob, inbox, limit):
    whole = _items(listing.conversation_page(user=bob, cursor=None, limit=200, inbox=inbox))
    forward, backward = _walk(bob, inbox=inbox, limit=limit)
    assert [item for p in forward for item in _items(p)] == whole
    assert all(len(_items(p)) == limit for p in forward[:-1])
    assert [_items(p) for p in reversed(backward)] == [_items(p) for p in forward]
    assert forward[0].previous is None
    assert backward[-1].previous is None


def test_items_have_the_fields_the_schema_describes(world, client_for, bob):
    client = client_for(bob)
    listed = client.get("/api/conversations/").json()["results"]
    inbox = client.get("/api/inbox/").json()["results"]
    item_fields = set(ConversationListItemSerializer().fields)
    assert all(set(item) == item_fields for item in listed)
    assert all(set(entry) == set(InboxItemSerializer().fields) for entry in inbox)
    assert all(set(entry["conversation"]) == item_fields for entry in inbox)
    peers = [item["peer"] for item in listed if item["peer"]]
    assert peers
    assert all(set(peer) == set(PeerSerializer().fields) for peer in peers)


def test_listed_messages_are_shaped_exactly_as_history_answers_them(world, client_for, bob):
    client = client_for(bob)
    listed = client.get("/api/conversations/?limit=50").json()["results"]
    inbox = client.get("/api/inbox/?limit=50").json()["results"]
    pairs = [(item["id"], item["last_message"]) for item in listed if item["last_message"]]
    pairs += [(entry["conversation"]["id"], m) for entry in inbox for m in entry["messages"]]
    assert len(pairs) > 10
    for conversation_id, message in pairs:
        page = client.get(
            f"/api/conversations/{conversation_id}/messages/?after_seq={message['seq'] - 1}&limit=1"
        ).json()["results"]
        assert page[0] == message


def test_what_the_list_and_the_inbox_hold(world, bob, charlie, alice):
    listed = _items(listing.conversation_page(user=bob, cursor=None, limit=50, inbox=False))
    by_name = {item["name"]: item for item in listed}
    assert "Pending" not in by_name  # a pending request shows nothing
    team = by_name["Team"]
    # After bob's own message: a1 and bob's own are read; of the rest he sees the tricky
    # text and the message whose sender is gone (the blocked sender's and the tombstone
    # do not count).
    assert team["unread"] == 2
    assert team["last_message"]["text"] == "sender since deleted"
    assert team["last_message"]["sender"] is None
    assert team["last_message"]["sender_username"] == "deleted user"
    directs = [item for item in listed if item["kind"] == "direct"]
    assert {d["peer"]["username"] for d in directs} == {"dave", "frank", "erin"}
    assert all(d["last_message"]["created_at"] == "2026-01-02T03:04:05Z" for d in directs)
    assert [d["id"] for d in directs] == sorted((d["id"] for d in directs), reverse=True)
    assert by_name["Empty"]["last_message"] is None
    assert by_name["Empty"]["last_message_at"] is None

    inbox = _items(listing.conversation_page(user=bob, cursor=None, limit=50, inbox=True))
    entries = {entry["conversation"]["name"]: entry for entry in inbox}
    assert set(entries) == {"Team", "Lobby <i>", ""}  # direct conversations have no name
    assert [m["text"] for m in entries["Team"]["messages"]] == [TRICKY, "sender since deleted"]
    lobby = entries["Lobby <i>"]
    assert lobby["unread"] == 55
    assert [m["seq"] for m in lobby["messages"]] == list(range(1, 51))


def test_inbox_endpoint_cursor_and_renderings(world, client_for, bob):
    client = client_for(bob)
    first = client.get("/api/inbox/?limit=1")
    assert first.status_code == 200
    assert first["Content-Type"] == "application/json"
    body = first.json()
    assert body["previous"] is None
    second = client.get(body["next"]).json()
    assert second["previous"] is not None
    assert client.get(second["previous"]).json()["results"] == body["results"]

    indented = client.get("/api/inbox/?limit=1", HTTP_ACCEPT="application/json; indent=4")
    assert indented.content.startswith(b'{\n    "next"')
    assert indented.json() == body

    html = client.get("/api/inbox/", HTTP_ACCEPT="text/html")
    assert html.status_code == 200
    assert "Lobby &lt;i&gt;" in html.content.decode()


@pytest.mark.parametrize("cursor", ["garbage", "W10=", "WyJ4IiwxLDBd", "WzEsMiwzLDRd"])
def test_bad_cursor_is_404(client_for, bob, cursor):
    response = client_for(bob).get(f"/api/conversations/?cursor={cursor}")
    assert response.status_code == 404
    assert response.json()["detail"] == "Invalid cursor"
