import pytest

from chat import memberships, services
from chat.models import Membership, Message

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "path",
    [
        "/admin/chat/conversation/",
        "/admin/chat/conversation/?kind__exact=room&q=Lob",
        "/admin/chat/membership/",
        "/admin/chat/membership/?status__exact=approved&q=bob",
        "/admin/chat/message/",
        "/admin/chat/message/?q=hello&deleted_at__isempty=1",
    ],
)
def test_changelists_render(moderator, room, alice, send, path):
    send(alice, room, "hello")
    assert moderator.get(path).status_code == 200


def test_conversation_page_shows_members(moderator, room):
    response = moderator.get(f"/admin/chat/conversation/{room.pk}/change/")
    assert response.status_code == 200
    assert b"bob" in response.content


def test_message_changelist_does_not_query_per_row(
    moderator, alice, room, send, django_assert_max_num_queries
):
    for i in range(30):
        send(alice, room, f"m{i}")
    with django_assert_max_num_queries(10):
        assert moderator.get("/admin/chat/message/").status_code == 200


def test_tombstone_action(moderator, alice, bob, room, send):
    message = send(bob, room, "rude")
    keep = send(bob, room, "fine")
    response = moderator.post(
        "/admin/chat/message/",
        {"action": "tombstone_messages", "_selected_action": [message.pk]},
        follow=True,
    )
    assert b"Deleted: 1." in response.content
    message.refresh_from_db()
    keep.refresh_from_db()
    assert (message.text, message.deleted_at is not None, message.seq) == ("", True, 1)
    assert keep.text == "fine"
    assert Message.objects.count() == 2  # never a row removed


def test_remove_and_ban_actions(moderator, alice, bob, charlie, room):
    memberships.membership_request(actor=charlie, conversation=room)
    bob_row = Membership.objects.get(conversation=room, user=bob)
    charlie_row = Membership.objects.get(conversation=room, user=charlie)
    moderator.post(
        "/admin/chat/membership/", {"action": "remove_members", "_selected_action": [bob_row.pk]}
    )
    moderator.post(
        "/admin/chat/membership/", {"action": "ban_members", "_selected_action": [charlie_row.pk]}
    )
    bob_row.refresh_from_db()
    charlie_row.refresh_from_db()
    assert bob_row.status == "removed"
    assert charlie_row.status == "banned"


def test_admin_cannot_delete_messages_or_conversations(moderator, alice, room, send):
    message = send(alice, room)
    assert moderator.get(f"/admin/chat/message/{message.pk}/delete/").status_code == 403
    assert moderator.get(f"/admin/chat/conversation/{room.pk}/delete/").status_code == 403


def test_a_message_page_shows_the_texts_it_had_before_its_edits(moderator, alice, room, send):
    message = send(alice, room, "first draft")
    services.message_edit(actor=alice, conversation_id=room.pk, message_id=message.pk, text="final")
    response = moderator.get(f"/admin/chat/message/{message.pk}/change/")
    assert response.status_code == 200
    assert b"first draft" in response.content
    assert b"final" in response.content
