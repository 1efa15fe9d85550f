"""REST shapes, status codes and query counts of conversations and messages."""

import pytest

from accounts.services import block_create
from chat import memberships, services
from chat.models import Conversation, Membership, Message

pytestmark = pytest.mark.django_db

MESSAGE_KEYS = {
    "id",
    "conversation",
    "seq",
    "sender",
    "sender_username",
    "text",
    "html",
    "client_id",
    "created_at",
    "edited_at",
    "deleted_at",
    "reply_to",
    "reactions",
    "mentions",
    "attachments",
}


def test_create_group_and_room(client_for, alice):
    client = client_for(alice)
    response = client.post("/api/conversations/", {"kind": "room", "name": "Chess club"})
    assert response.status_code == 201
    body = response.json()
    assert body["kind"] == "room"
    assert body["name"] == "Chess club"
    assert body["member_count"] == 1
    assert body["role"] == "admin"
    assert body["status"] == "approved"


@pytest.mark.parametrize(
    "payload",
    [
        {"kind": "direct", "name": "x"},
        {"kind": "room"},
        {"kind": "room", "name": "   "},
        {"name": "x"},
        {"kind": "group", "name": "n" * 101},
    ],
)
def test_bad_conversation_create(client_for, alice, payload):
    response = client_for(alice).post("/api/conversations/", payload)
    assert response.status_code == 400
    assert not Conversation.objects.exists()


def test_send_and_read_history(client_for, alice, bob, group):
    response = client_for(alice).post(
        f"/api/conversations/{group.pk}/messages/", {"text": "hi bob", "client_id": "c1"}
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == MESSAGE_KEYS
    assert body["seq"] == 1
    assert body["sender"] == alice.pk
    assert body["sender_username"] == "alice"
    history = client_for(bob).get(f"/api/conversations/{group.pk}/messages/").json()
    assert history["has_more"] is False
    assert [m["text"] for m in history["results"]] == ["hi bob"]


def test_retried_send_is_200_with_the_first_message(client_for, alice, group):
    client = client_for(alice)
    url = f"/api/conversations/{group.pk}/messages/"
    first = client.post(url, {"text": "once", "client_id": "k"})
    again = client.post(url, {"text": "once", "client_id": "k"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert Message.objects.count() == 1
    # Both answers are the message as the history shows it.
    assert first.json() == again.json() == client.get(url).json()["results"][0]


@pytest.mark.parametrize(
    "payload",
    [
        {"text": ""},
        {"text": "   "},
        {"text": "x" * 10_001},
        {},
        {"text": "a", "client_id": "c" * 65},
    ],
)
def test_bad_message_is_400_and_writes_nothing(client_for, alice, group, payload):
    response = client_for(alice).post(f"/api/conversations/{group.pk}/messages/", payload)
    assert response.status_code == 400
    assert not Message.objects.exists()


def test_mass_assignment_is_ignored(client_for, alice, bob, group):
    response = client_for(bob).post(
        f"/api/conversations/{group.pk}/messages/",
        {
            "text": "hi",
            "sender": alice.pk,
            "seq": 42,
            "conversation": 999,
            "id": 7,
            "created_at": "2000-01-01T00:00:00Z",
            "deleted_at": "2000-01-01T00:00:00Z",
        },
    )
    body = response.json()
    assert body["sender"] == bob.pk
    assert body["seq"] == 1
    assert body["conversation"] == group.pk
    assert body["deleted_at"] is None
    created = (
        client_for(bob)
        .post(
            "/api/conversations/",
            {
                "kind": "group",
                "name": "g",
                "role": "member",
                "status": "banned",
                "created_by": alice.pk,
            },
        )
        .json()
    )
    membership = Membership.objects.get(conversation_id=created["id"], user=bob)
    assert (membership.role, membership.status) == ("admin", "approved")
    joined = client_for(bob).post(
        f"/api/conversations/{group.pk}/read/", {"seq": 1, "user_id": alice.pk, "read_seq": 50}
    )
    assert joined.status_code == 204
    assert Membership.objects.get(conversation=group, user=alice).read_seq == 0


def test_direct_message_endpoint(client_for, alice, bob):
    response = client_for(alice).post("/api/direct/", {"user_id": bob.pk, "text": "hi"})
    assert response.status_code == 201
    assert set(response.json()) == MESSAGE_KEYS
    again = client_for(bob).post("/api/direct/", {"user_id": alice.pk, "text": "yo"})
    assert again.json()["conversation"] == response.json()["conversation"]


def test_direct_message_while_blocked_is_403_blocked(client_for, alice, bob):
    block_create(blocker=bob, blocked_id=alice.pk)
    response = client_for(alice).post("/api/direct/", {"user_id": bob.pk, "text": "hi"})
    assert response.status_code == 403
    assert response.json()["code"] == "blocked"
    assert not Conversation.objects.exists()


@pytest.mark.parametrize(
    ("payload", "code"),
    [({"user_id": 999999, "text": "x"}, 404), ({"text": "x"}, 400), ({"user_id": "x"}, 400)],
)
def test_bad_direct_message(client_for, alice, payload, code):
    assert client_for(alice).post("/api/direct/", payload).status_code == code
    assert not Conversation.objects.exists()


def test_direct_to_yourself_is_400(client_for, alice):
    assert (
        client_for(alice).post("/api/direct/", {"user_id": alice.pk, "text": "x"}).status_code
        == 400
    )


def test_room_join_and_decisions_over_rest(client_for, alice, charlie, room):
    join = client_for(charlie).post(f"/api/conversations/{room.pk}/join/")
    assert (join.status_code, join.json()) == (202, {"status": "pending"})
    members = client_for(alice).get(f"/api/conversations/{room.pk}/members/").json()["results"]
    assert {
        "user_id": charlie.pk,
        "username": "charlie",
        "role": "member",
        "status": "pending",
        "presence": "offline",
        "last_seen": None,
    } in members
    approve = client_for(alice).post(f"/api/conversations/{room.pk}/members/{charlie.pk}/approve/")
    assert approve.status_code == 200
    assert approve.json()["status"] == "approved"
    again = client_for(alice).post(f"/api/conversations/{room.pk}/members/{charlie.pk}/approve/")
    assert again.status_code == 409


def test_pending_requests_are_shown_to_admins_only(client_for, alice, bob, charlie, room):
    client_for(charlie).post(f"/api/conversations/{room.pk}/join/")
    seen_by_bob = client_for(bob).get(f"/api/conversations/{room.pk}/members/").json()["results"]
    assert charlie.pk not in {m["user_id"] for m in seen_by_bob}


def test_add_remove_role_ban(client_for, alice, bob, charlie, group):
    admin = client_for(alice)
    base = f"/api/conversations/{group.pk}/members/"
    added = admin.post(base, {"user_id": charlie.pk})
    assert added.status_code == 201
    assert admin.post(base, {"user_id": charlie.pk}).status_code == 200
    role = admin.post(f"{base}{charlie.pk}/role/", {"role": "admin"})
    assert role.json()["role"] == "admin"
    assert admin.post(f"{base}{charlie.pk}/role/", {"role": "owner"}).status_code == 400
    assert admin.delete(f"{base}{bob.pk}/").status_code == 204
    assert admin.post(f"{base}{bob.pk}/ban/").json()["status"] == "banned"
    assert admin.post(f"{base}999999/ban/").status_code == 404


def test_member_leaves_with_own_id(client_for, bob, group):
    assert (
        client_for(bob).delete(f"/api/conversations/{group.pk}/members/{bob.pk}/").status_code
        == 204
    )
    assert client_for(bob).get(f"/api/conversations/{group.pk}/").status_code == 404


def test_read_endpoint_moves_the_cursor(client_for, alice, bob, group, send):
    send(alice, group)
    send(alice, group)
    client = client_for(bob)
    assert client.post(f"/api/conversations/{group.pk}/read/", {"seq": 2}).status_code == 204
    assert client.post(f"/api/conversations/{group.pk}/read/", {"seq": 1}).status_code == 204
    assert Membership.objects.get(conversation=group, user=bob).read_seq == 2
    assert client.post(f"/api/conversations/{group.pk}/read/", {"seq": -1}).status_code == 400


def test_history_query_params(client_for, alice, group, send):
    for _ in range(5):
        send(alice, group)
    client = client_for(alice)
    url = f"/api/conversations/{group.pk}/messages/"
    page = client.get(f"{url}?limit=2").json()
    assert [m["seq"] for m in page["results"]] == [4, 5]
    assert page["has_more"] is True
    older = client.get(f"{url}?before_seq=4&limit=2").json()
    assert [m["seq"] for m in older["results"]] == [2, 3]
    newer = client.get(f"{url}?after_seq=3").json()
    assert [m["seq"] for m in newer["results"]] == [4, 5]
    assert client.get(f"{url}?limit=500").status_code == 400
    assert client.get(f"{url}?after_seq=abc").status_code == 400


def test_conversation_list_with_unread_and_last_message(client_for, alice, bob, group, send):
    services.direct_message_send(sender=alice, recipient_id=bob.pk, text="psst")
    send(bob, group, "mine")
    send(alice, group, "one")
    send(alice, group, "two")
    rows = client_for(bob).get("/api/conversations/").json()["results"]
    by_kind = {row["kind"]: row for row in rows}
    assert rows[0]["kind"] == "group"  # most recent activity first
    assert by_kind["group"]["unread"] == 2  # not counting bob's own
    assert by_kind["group"]["last_message"]["text"] == "two"
    assert by_kind["direct"]["unread"] == 1
    assert by_kind["direct"]["peer"]["username"] == "alice"
    assert by_kind["group"]["peer"] is None


def test_deleted_messages_do_not_count_as_unread(client_for, alice, bob, group, send):
    message = send(alice, group, "bad")
    services.message_tombstone(actor=alice, message=message)
    row = client_for(bob).get("/api/conversations/").json()["results"][0]
    assert row["unread"] == 0


def test_inbox(client_for, alice, bob, charlie, group, room, send):
    memberships.membership_add(actor=alice, conversation=group, user_id=charlie.pk)
    send(bob, group, "bob's own")
    send(alice, group, "g1")
    send(charlie, group, "from charlie")
    send(alice, room, "r1")
    block_create(blocker=bob, blocked_id=charlie.pk)
    client = client_for(bob)
    client.post(f"/api/conversations/{room.pk}/read/", {"seq": 1})
    inbox = client.get("/api/inbox/").json()["results"]
    assert len(inbox) == 1
    entry = inbox[0]
    assert entry["conversation"]["id"] == group.pk
    assert entry["unread"] == 1
    assert [m["text"] for m in entry["messages"]] == ["g1"]


def test_inbox_caps_messages_at_fifty_oldest_first(client_for, alice, bob, group, send):
    for i in range(60):
        send(alice, group, f"m{i}")
    entry = client_for(bob).get("/api/inbox/").json()["results"][0]
    assert entry["unread"] == 60
    assert len(entry["messages"]) == 50
    assert entry["messages"][0]["seq"] == 1


def test_rooms_search(client_for, alice, charlie, room, group):
    services.conversation_create(actor=alice, kind="room", name="Chess")
    rows = client_for(charlie).get("/api/rooms/?search=lob").json()["results"]
    assert [(r["name"], r["member_count"], r["status"]) for r in rows] == [("Lobby", 2, None)]
    everything = client_for(charlie).get("/api/rooms/").json()["results"]
    assert {r["name"] for r in everything} == {"Lobby", "Chess"}  # never the group


def test_room_details_are_public_by_name(client_for, charlie, room):
    body = client_for(charlie).get(f"/api/conversations/{room.pk}/").json()
    assert body["name"] == "Lobby"
    assert body["member_count"] == 2
    assert body["status"] is None


# --- query counts -------------------------------------------------------------------------


def _fill(alice, bob, make_user, count, send):
    for i in range(count):
        conversation = services.conversation_create(actor=alice, kind="group", name=f"g{i}")
        memberships.membership_add(actor=alice, conversation=conversation, user_id=bob.pk)
        send(alice, conversation, "x")
        if i % 3 == 0:
            other = make_user(f"peer{count}_{i}")
            services.direct_message_send(sender=other, recipient_id=bob.pk, text="dm")


@pytest.mark.parametrize("path", ["/api/conversations/?limit=100", "/api/inbox/?limit=100"])
def test_list_query_counts_do_not_grow(
    client_for, alice, bob, make_user, send, path, django_assert_num_queries
):
    client = client_for(bob)
    _fill(alice, bob, make_user, 3, send)
    # token auth, then the whole page in one statement (chat.listing)
    expected = 2
    with django_assert_num_queries(expected):
        assert len(client.get(path).json()["results"]) == 4
    _fill(alice, bob, make_user, 27, send)
    with django_assert_num_queries(expected):
        assert len(client.get(path).json()["results"]) == 40


def test_history_and_members_query_counts_do_not_grow(
    client_for, alice, bob, make_user, group, send, django_assert_num_queries
):
    client = client_for(bob)
    for _ in range(3):
        send(alice, group)
    # token auth, membership with its conversation, the page with its reactions
    with django_assert_num_queries(3):
        assert len(client.get(f"/api/conversations/{group.pk}/messages/").json()["results"]) == 3
    for _ in range(27):
        send(alice, group)
    with django_assert_num_queries(3):
        assert len(client.get(f"/api/conversations/{group.pk}/messages/").json()["results"]) == 30
    with django_assert_num_queries(3):
        client.get(f"/api/conversations/{group.pk}/members/")
    for i in range(20):
        memberships.membership_add(actor=alice, conversation=group, user_id=make_user(f"m{i}").pk)
    with django_assert_num_queries(3):
        assert len(client.get(f"/api/conversations/{group.pk}/members/").json()["results"]) == 22


def test_conversation_list_pages_through_everything_once(client_for, alice, bob, send):
    for i in range(7):
        conversation = services.conversation_create(actor=alice, kind="group", name=f"g{i}")
        memberships.membership_add(actor=alice, conversation=conversation, user_id=bob.pk)
        send(alice, conversation, "x")
    client = client_for(bob)
    seen, url = [], "/api/conversations/?limit=3"
    while url:
        page = client.get(url).json()
        seen += [row["name"] for row in page["results"]]
        url = page["next"]
    assert seen == [f"g{i}" for i in reversed(range(7))]


def test_sending_marks_everything_before_it_read(client_for, alice, bob, group, send):
    send(alice, group, "one")
    send(alice, group, "two")
    send(bob, group, "reply")
    assert client_for(bob).get("/api/conversations/").json()["results"][0]["unread"] == 0
    send(alice, group, "three")
    assert client_for(bob).get("/api/conversations/").json()["results"][0]["unread"] == 1


def test_unread_skips_blocked_senders_and_tombstones_after_the_cursor(
    client_for, alice, bob, charlie, group, send
):
    memberships.membership_add(actor=alice, conversation=group, user_id=charlie.pk)
    send(alice, group, "a1")
    send(charlie, group, "c1")
    bad = send(alice, group, "a2")
    send(charlie, group, "c2")
    send(alice, group, "a3")
    services.message_tombstone(actor=alice, message=bad)
    block_create(blocker=bob, blocked_id=charlie.pk)
    client = client_for(bob)
    assert client.get("/api/conversations/").json()["results"][0]["unread"] == 2
    client.post(f"/api/conversations/{group.pk}/read/", {"seq": 2})
    assert client.get("/api/conversations/").json()["results"][0]["unread"] == 1
    inbox = client.get("/api/inbox/").json()["results"]
    assert [m["text"] for m in inbox[0]["messages"]] == ["a3"]


def test_inbox_messages_have_exactly_the_rest_message_shape(client_for, alice, bob, group, send):
    from chat.serializers import MessageSerializer

    message = send(alice, group, "same shape", client_id="k1")
    entry = client_for(bob).get("/api/inbox/").json()["results"][0]
    rest = client_for(bob).get(f"/api/conversations/{group.pk}/messages/").json()["results"][0]
    assert entry["messages"] == [rest]
    assert rest == dict(MessageSerializer(message).data)
