"""SPEC section 12, mentions: who gets mentioned, unread_mentions, GET /api/mentions/."""

import pytest
from channels.db import database_sync_to_async
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.services import block_create
from chat import memberships, services
from chat.models import Mention, Message

from .test_ws import connect, expect

pytestmark = pytest.mark.django_db
call = database_sync_to_async


def listed(client, conversation):
    rows = client.get("/api/conversations/").json()["results"]
    return next(row for row in rows if row["id"] == conversation.pk)


def test_members_named_are_mentioned_and_others_are_plain_text(
    client_for, alice, bob, charlie, group, send
):
    message = send(alice, group, "@Bob and @charlie, see `@bob` and bob@example.com, @alice.")
    assert message.mentions == [bob.pk]  # charlie is no member; alice is the sender
    stored = Message.objects.get(pk=message.pk)
    assert stored.mentions == [bob.pk]
    assert f'<span class="mention" data-user-id="{bob.pk}">@Bob</span>' in stored.html
    assert "@charlie" in stored.html
    assert 'data-user-id="' + str(charlie.pk) not in stored.html
    assert "<code>@bob</code>" in stored.html
    assert list(Mention.objects.values_list("user_id", "seq")) == [(bob.pk, message.seq)]
    page = client_for(bob).get(f"/api/conversations/{group.pk}/messages/").json()["results"]
    assert page[-1]["mentions"] == [bob.pk]


def test_at_all_is_everyone_only_from_an_admin(client_for, alice, bob, charlie, group, send):
    memberships.membership_add(actor=alice, conversation=group, user_id=charlie.pk)
    by_admin = send(alice, group, "@all standup")
    assert by_admin.mentions == sorted([bob.pk, charlie.pk])
    assert 'data-everyone=""' in by_admin.html
    by_member = send(bob, group, "@all lunch?")
    assert by_member.mentions == []
    assert "data-everyone" not in by_member.html
    assert listed(client_for(charlie), group)["unread_mentions"] == 1


def test_unread_mentions_follow_the_cursor_and_blocks(client_for, alice, bob, charlie, group, send):
    memberships.membership_add(actor=alice, conversation=group, user_id=charlie.pk)
    first = send(alice, group, "@bob one")
    send(charlie, group, "@bob two")
    send(alice, group, "no mention")
    client = client_for(bob)
    assert listed(client, group)["unread_mentions"] == 2
    block_create(blocker=bob, blocked_id=charlie.pk)
    assert listed(client, group)["unread_mentions"] == 1
    client.post(f"/api/conversations/{group.pk}/read/", {"seq": first.seq})
    assert listed(client, group)["unread_mentions"] == 0
    inbox = client.get("/api/inbox/").json()["results"]
    assert inbox[0]["conversation"]["unread_mentions"] == 0


def test_an_edit_re_resolves_and_a_delete_forgets_mentions(alice, bob, charlie, group, send):
    memberships.membership_add(actor=alice, conversation=group, user_id=charlie.pk)
    message = send(alice, group, "hey @bob")
    edited = services.message_edit(
        actor=alice, conversation_id=group.pk, message_id=message.pk, text="hey @charlie"
    )
    assert edited.mentions == [charlie.pk]
    assert list(Mention.objects.values_list("user_id", flat=True)) == [charlie.pk]
    assert Message.objects.get(pk=message.pk).mentions == [charlie.pk]
    services.message_delete(actor=alice, conversation_id=group.pk, message_id=message.pk)
    assert not Mention.objects.exists()
    assert Message.objects.get(pk=message.pk).mentions == []


def test_a_text_naming_no_one_costs_no_query_more(alice, group, send):
    send(alice, group, "warm up")
    with CaptureQueriesContext(connection) as plain:
        send(alice, group, "no names here")
    with CaptureQueriesContext(connection) as named:
        send(alice, group, "hi @bob")
    # The lock and the statement, sent together in one round trip (chat/sending.py).
    assert len(plain.captured_queries) == 2
    assert len(named.captured_queries) == 3  # and the members it names


def test_the_mentions_list(client_for, alice, bob, charlie, group, room, send):
    memberships.membership_add(actor=alice, conversation=group, user_id=charlie.pk)
    older = send(alice, group, "@bob first")
    parent = send(charlie, group, "root")
    newer = send(charlie, group, "@bob second", reply_to=parent.pk)
    services.reaction_add(actor=alice, conversation_id=group.pk, message_id=newer.pk, emoji="👍")
    send(alice, room, "@bob in the room")
    client = client_for(bob)
    results = client.get("/api/mentions/").json()["results"]
    assert [r["message"]["text"] for r in results] == [
        "@bob in the room",
        "@bob second",
        "@bob first",
    ]
    assert results[1]["conversation"] == group.pk
    assert results[1]["conversation_name"] == "Team"
    assert results[1]["message"]["reply_to"]["excerpt"] == "root"
    assert results[1]["message"]["reactions"] == [{"emoji": "👍", "count": 1, "me": False}]
    # Pages, newest first.
    page = client.get("/api/mentions/?limit=2").json()
    assert len(page["results"]) == 2
    rest = client.get(page["next"]).json()["results"]
    assert [r["message"]["id"] for r in rest] == [older.pk]
    # Not what bob may no longer read, nor from someone he blocks, nor deleted.
    memberships.membership_remove(actor=alice, conversation=room, user_id=bob.pk)
    block_create(blocker=bob, blocked_id=charlie.pk)
    services.message_delete(actor=alice, conversation_id=group.pk, message_id=older.pk)
    assert client.get("/api/mentions/").json()["results"] == []
    assert client_for(charlie).get("/api/mentions/").json()["results"] == []


def test_the_mentions_list_costs_the_same_queries_for_any_page(client_for, alice, bob, group, send):
    client = client_for(bob)
    for i in range(3):
        send(alice, group, f"@bob {i}")
    with CaptureQueriesContext(connection) as small:
        assert len(client.get("/api/mentions/").json()["results"]) == 3
    for i in range(40):
        send(alice, group, f"@bob more {i}")
    with CaptureQueriesContext(connection) as large:
        assert len(client.get("/api/mentions/").json()["results"]) == 43
    assert len(large.captured_queries) == len(small.captured_queries)


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_mention_reaches_the_socket_with_its_ids(alice, bob, room):
    reader = await connect(bob)
    await call(services.message_send)(sender=alice, conversation_id=room.pk, text="@bob look")
    frame = await expect(reader, action="message")
    assert frame["mentions"] == [bob.pk]
    assert 'class="mention"' in frame["html"]
    await reader.disconnect()


def test_the_member_search_the_composer_completes_from(
    client_for, alice, bob, charlie, make_user, room
):
    memberships.membership_request(actor=charlie, conversation=room)
    memberships.membership_approve(actor=alice, conversation=room, user_id=charlie.pk)
    memberships.membership_request(actor=make_user("chuck"), conversation=room)  # pending
    url = f"/api/conversations/{room.pk}/members/"

    def names(client, search):
        response = client.get(url, {"search": search})
        assert response.status_code == 200
        return [(m["username"], m["status"]) for m in response.json()["results"]]

    assert names(client_for(bob), "CH") == [("charlie", "approved")]
    assert names(client_for(bob), "c%") == []  # a prefix, not a pattern
    assert names(client_for(alice), "ch") == [("charlie", "approved"), ("chuck", "pending")]
    assert len(names(client_for(bob), "")) == 3
    assert client_for(make_user("stranger")).get(url, {"search": "a"}).status_code == 403
