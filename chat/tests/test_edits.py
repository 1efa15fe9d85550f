"""SPEC section 12, edits and deletions: REST, the WebSocket, the rules behind both."""

from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth.models import Permission
from django.utils import timezone

from accounts.services import block_create
from chat import memberships, services
from chat.models import Message, MessageEdit
from moderation import services as moderation
from moderation.models import AuditEntry

from .test_ws import connect, expect, nothing

pytestmark = pytest.mark.django_db
call = database_sync_to_async


@pytest.fixture
def site_moderator(make_user):
    """Holds chat.moderate: the rights of an admin in any group or room."""
    user = make_user("sitemod")
    user.user_permissions.add(
        Permission.objects.get(codename="moderate", content_type__app_label="chat")
    )
    return user


def deletions():
    return AuditEntry.objects.filter(action=moderation.Action.MESSAGE_DELETE)


def url(conversation, message, tail=""):
    return f"/api/conversations/{conversation.pk}/messages/{message.pk}/{tail}"


# --- edit -----------------------------------------------------------------------------------


def test_the_sender_edits_and_the_earlier_text_is_kept(client_for, alice, bob, group, send):
    message = send(bob, group, "helo")
    response = client_for(bob).patch(url(group, message), {"text": "hello"}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert (body["text"], body["seq"], body["id"]) == ("hello", message.seq, message.pk)
    assert body["edited_at"] is not None
    client_for(bob).patch(url(group, message), {"text": "hello!"}, format="json")
    message.refresh_from_db()
    assert message.text == "hello!"
    assert list(MessageEdit.objects.filter(message=message).values_list("text", flat=True)) == [
        "helo",
        "hello",
    ]
    # History and the conversation list show the latest form.
    page = client_for(alice).get(f"/api/conversations/{group.pk}/messages/").json()["results"]
    assert page[-1]["text"] == "hello!"
    assert page[-1]["edited_at"] > body["edited_at"]
    listed = client_for(alice).get("/api/conversations/").json()["results"][0]
    assert listed["last_message"]["text"] == "hello!"
    assert listed["last_message"]["edited_at"] == page[-1]["edited_at"]


def test_the_same_text_again_changes_nothing(client_for, bob, group, send):
    message = send(bob, group, "same")
    response = client_for(bob).patch(url(group, message), {"text": "same"}, format="json")
    assert response.status_code == 200
    assert response.json()["edited_at"] is None
    assert not MessageEdit.objects.exists()


@pytest.mark.parametrize(
    ("who", "status"), [("alice", 403), ("charlie", 404)], ids=["another member", "stranger"]
)
def test_only_the_sender_edits(client_for, alice, bob, charlie, group, send, who, status):
    message = send(bob, group, "mine")
    actor = {"alice": alice, "charlie": charlie}[who]
    response = client_for(actor).patch(url(group, message), {"text": "yours"}, format="json")
    assert response.status_code == status
    message.refresh_from_db()
    assert (message.text, message.edited_at) == ("mine", None)
    assert not MessageEdit.objects.exists()


def test_past_the_window_an_edit_is_403(client_for, bob, group, send, settings):
    settings.MESSAGE_EDIT_SECONDS = 60
    message = send(bob, group, "old")
    Message.objects.filter(pk=message.pk).update(created_at=timezone.now() - timedelta(seconds=61))
    response = client_for(bob).patch(url(group, message), {"text": "new"}, format="json")
    assert response.status_code == 403
    settings.MESSAGE_EDIT_SECONDS = 0  # no limit
    response = client_for(bob).patch(url(group, message), {"text": "new"}, format="json")
    assert response.status_code == 200


def test_bad_edits_change_nothing(client_for, alice, bob, group, room, send):
    message = send(bob, group, "keep")
    client = client_for(bob)
    assert client.patch(url(group, message), {"text": ""}, format="json").status_code == 400
    assert (
        client.patch(url(group, message), {"text": "x" * 10_001}, format="json").status_code == 400
    )
    assert client.patch(url(group, message), {}, format="json").status_code == 400
    # A message of another conversation, through this one's path.
    assert client.patch(url(room, message), {"text": "moved"}, format="json").status_code == 404
    assert (
        client.patch(
            f"/api/conversations/{group.pk}/messages/999999/", {"text": "x"}, format="json"
        ).status_code
        == 404
    )
    message.refresh_from_db()
    assert (message.text, message.edited_at) == ("keep", None)
    assert not MessageEdit.objects.exists()


def test_a_removed_member_or_a_blocked_pair_cannot_edit(client_for, alice, bob, group, send):
    message = send(bob, group, "before")
    memberships.membership_remove(actor=alice, conversation=group, user_id=bob.pk)
    assert (
        client_for(bob).patch(url(group, message), {"text": "after"}, format="json").status_code
        == 404
    )
    direct, _ = services.direct_message_send(sender=bob, recipient_id=alice.pk, text="hi")
    block_create(blocker=alice, blocked_id=bob.pk)
    response = client_for(bob).patch(
        url(direct.conversation, direct), {"text": "hey"}, format="json"
    )
    assert response.status_code == 403
    assert Message.objects.get(pk=direct.pk).text == "hi"


def test_a_deleted_message_cannot_be_edited(client_for, bob, group, send):
    message = send(bob, group, "gone")
    client_for(bob).delete(url(group, message))
    assert (
        client_for(bob).patch(url(group, message), {"text": "back"}, format="json").status_code
        == 403
    )


def test_edit_history_for_admins_and_site_moderators_only(
    client_for, alice, bob, charlie, site_moderator, group, send
):
    memberships.membership_add(actor=alice, conversation=group, user_id=charlie.pk)
    message = send(bob, group, "first")
    services.message_edit(actor=bob, conversation_id=group.pk, message_id=message.pk, text="second")
    for reader in (alice, site_moderator):
        response = client_for(reader).get(url(group, message, "edits/"))
        assert response.status_code == 200
        [edit] = response.json()
        assert edit["text"] == "first"
        assert edit["written_at"] < edit["replaced_at"]
    assert client_for(charlie).get(url(group, message, "edits/")).status_code == 403
    assert (
        client_for(bob).get(url(group, message, "edits/")).status_code == 403
    )  # its sender, not an admin


# --- delete ---------------------------------------------------------------------------------


def test_the_sender_deletes_at_any_time_and_the_history_goes_too(
    client_for, alice, bob, group, send, settings
):
    settings.MESSAGE_EDIT_SECONDS = 1
    message = send(bob, group, "one")
    services.message_edit(actor=bob, conversation_id=group.pk, message_id=message.pk, text="two")
    Message.objects.filter(pk=message.pk).update(created_at=timezone.now() - timedelta(days=30))
    assert client_for(bob).delete(url(group, message)).status_code == 204
    message.refresh_from_db()
    assert (message.text, message.seq) == ("", 1)
    assert message.deleted_at is not None
    assert not MessageEdit.objects.exists()
    assert not deletions().exists()  # one's own message: not moderation
    assert client_for(bob).delete(url(group, message)).status_code == 204  # twice: harmless


def test_an_admin_deletes_anyone_s_message_and_it_is_audited(
    client_for, alice, bob, charlie, group, send
):
    memberships.membership_add(actor=alice, conversation=group, user_id=charlie.pk)
    message = send(charlie, group, "spam")
    assert client_for(bob).delete(url(group, message)).status_code == 403  # a member
    assert Message.objects.get(pk=message.pk).deleted_at is None
    assert client_for(alice).delete(url(group, message)).status_code == 204
    assert Message.objects.get(pk=message.pk).deleted_at is not None
    assert deletions().get().message_id == message.pk


def test_a_site_moderator_deletes_without_being_a_member(
    client_for, site_moderator, bob, group, send
):
    message = send(bob, group, "rule-breaking")
    assert client_for(site_moderator).delete(url(group, message)).status_code == 204
    assert Message.objects.get(pk=message.pk).deleted_at is not None


def test_a_stranger_gets_404_for_a_group_message(client_for, bob, charlie, group, send):
    message = send(bob, group, "private")
    assert client_for(charlie).delete(url(group, message)).status_code == 404
    assert Message.objects.get(pk=message.pk).deleted_at is None


# --- the WebSocket --------------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_edit_and_delete_over_the_socket_reach_members_in_order(alice, bob, charlie, room):
    editor = await connect(bob)
    other_tab = await connect(bob)
    reader = await connect(alice)
    message, _ = await call(services.message_send)(sender=bob, conversation_id=room.pk, text="typo")
    for socket in (reader, other_tab, editor):  # sent through REST: a message to every tab
        await expect(socket, action="message", id=message.pk)
    await editor.send_json_to(
        {
            "action": "editMessage",
            "conversationId": room.pk,
            "id": message.pk,
            "message": "fixed",
            "requestId": 5,
        }
    )
    answer = await expect(
        editor, action="messageEdited", id=message.pk, message="fixed", requestId=5
    )
    assert answer["seq"] == message.seq
    assert answer["editedAt"] is not None
    for socket in (reader, other_tab):
        frame = await expect(
            socket,
            action="messageEdited",
            conversationId=room.pk,
            id=message.pk,
            seq=1,
            message="fixed",
        )
        assert frame["editedAt"] == answer["editedAt"]
    # sync shows the latest form.
    await reader.send_json_to(
        {"action": "sync", "conversationId": room.pk, "afterSeq": 0, "requestId": 1}
    )
    history = await expect(reader, action="history")
    assert [(m["message"], m["editedAt"]) for m in history["messages"]] == [
        ("fixed", answer["editedAt"])
    ]
    await editor.send_json_to(
        {"action": "deleteMessage", "conversationId": room.pk, "id": message.pk, "requestId": 6}
    )
    await expect(editor, action="messageDeleted", id=message.pk, seq=1, requestId=6)
    await expect(reader, action="messageDeleted", id=message.pk, seq=1)
    await expect(other_tab, action="messageDeleted", id=message.pk, seq=1)
    for socket in (editor, other_tab, reader):
        await nothing(socket)
        await socket.disconnect()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_bad_edits_over_the_socket_get_errors_and_change_nothing(alice, bob, room):
    message, _ = await call(services.message_send)(sender=bob, conversation_id=room.pk, text="mine")
    socket = await connect(alice)
    for frame, code in [
        ({"conversationId": room.pk, "id": message.pk, "message": "not yours"}, "forbidden"),
        ({"conversationId": room.pk, "id": message.pk, "message": 7}, "invalid"),
        ({"conversationId": room.pk, "id": "x", "message": "x"}, "invalid"),
        ({"conversationId": room.pk, "id": 999999, "message": "x"}, "not_found"),
    ]:
        await socket.send_json_to({"action": "editMessage", **frame, "requestId": 1})
        await expect(socket, action="error", code=code, requestId=1)
    await socket.send_json_to(
        {"action": "deleteMessage", "conversationId": room.pk, "id": message.pk}
    )
    await expect(socket, action="messageDeleted")  # alice is the room's admin: she may
    await socket.disconnect()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_an_edit_never_arrives_before_its_message(alice, bob, room):
    """The message's own event is lost; the edit's event arrives: the socket fills the
    message from the database first (in its edited form), then passes the edit on."""
    reader = await connect(alice)
    message = await call(Message.objects.create)(conversation=room, seq=1, sender=bob, text="lost")
    await call(type(room).objects.filter(pk=room.pk).update)(last_seq=1)
    await call(services.message_edit)(
        actor=bob, conversation_id=room.pk, message_id=message.pk, text="found"
    )
    filled = await expect(reader, action="message", id=message.pk, seq=1, message="found")
    assert filled["editedAt"] is not None
    await expect(reader, action="messageEdited", id=message.pk, message="found")
    await nothing(reader)
    await reader.disconnect()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_blocked_sender_s_edits_stay_hidden(alice, bob, room):
    message, _ = await call(services.message_send)(sender=bob, conversation_id=room.pk, text="hi")
    await call(block_create)(blocker=alice, blocked_id=bob.pk)
    reader = await connect(alice)
    await call(services.message_edit)(
        actor=bob, conversation_id=room.pk, message_id=message.pk, text="hi!"
    )
    await call(services.message_delete)(actor=bob, conversation_id=room.pk, message_id=message.pk)
    await nothing(reader)
    await reader.disconnect()
