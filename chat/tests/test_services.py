"""The conversation rules, exercised through the services."""

import json

import pytest
from django.db import IntegrityError, transaction

from accounts.services import block_create, block_delete
from chat import listing, memberships, selectors, services
from chat.models import Conversation, Membership, Message
from messaging_site.errors import Blocked, Conflict, Forbidden, Invalid, NotFound

pytestmark = pytest.mark.django_db
Status = Membership.Status


def status_of(conversation, user):
    return Membership.objects.get(conversation=conversation, user=user).status


def role_of(conversation, user):
    return Membership.objects.get(conversation=conversation, user=user).role


# --- sending ------------------------------------------------------------------------------


def test_seq_counts_up_per_conversation(alice, bob, group, room, send):
    assert [send(alice, group).seq for _ in range(3)] == [1, 2, 3]
    assert send(bob, room).seq == 1
    group.refresh_from_db()
    assert group.last_seq == 3


def test_text_is_trimmed(alice, group, send):
    assert send(alice, group, "  hi there \n").text == "hi there"


@pytest.mark.parametrize("text", ["", "   \n\t", "x" * 10_001, None, 5])
def test_bad_text_is_refused_and_nothing_written(alice, group, text):
    with pytest.raises(Invalid) as error:
        services.message_send(sender=alice, conversation_id=group.pk, text=text)
    assert "text" in error.value.fields
    assert not Message.objects.exists()
    group.refresh_from_db()
    assert group.last_seq == 0


def test_ten_thousand_characters_is_the_limit(alice, group, send):
    assert len(send(alice, group, "y" * 10_000).text) == 10_000


def test_retry_with_same_client_id_returns_the_first_message(alice, group):
    first, created = services.message_send(
        sender=alice, conversation_id=group.pk, text="once", client_id="c-1"
    )
    again, created_again = services.message_send(
        sender=alice, conversation_id=group.pk, text="once (retry)", client_id="c-1"
    )
    assert created
    assert not created_again
    assert again.pk == first.pk
    assert Message.objects.count() == 1


def test_client_id_is_per_sender(alice, bob, group):
    services.message_send(sender=alice, conversation_id=group.pk, text="a", client_id="same")
    _, created = services.message_send(
        sender=bob, conversation_id=group.pk, text="b", client_id="same"
    )
    assert created


def test_client_id_over_64_characters_is_invalid(alice, group):
    with pytest.raises(Invalid):
        services.message_send(sender=alice, conversation_id=group.pk, text="a", client_id="c" * 65)


def test_database_refuses_duplicate_seq_and_client_id(alice, group, send):
    message = send(alice, group, client_id="k")
    with pytest.raises(IntegrityError), transaction.atomic():
        Message.objects.create(conversation=group, seq=message.seq, sender=alice, text="dup")
    with pytest.raises(IntegrityError), transaction.atomic():
        Message.objects.create(conversation=group, seq=99, sender=alice, text="x", client_id="k")


def test_non_members_cannot_send(charlie, group, room):
    with pytest.raises(NotFound):
        services.message_send(sender=charlie, conversation_id=group.pk, text="hi")
    with pytest.raises(Forbidden):
        services.message_send(sender=charlie, conversation_id=room.pk, text="hi")


def test_pending_member_cannot_send_or_read(alice, charlie, room):
    memberships.membership_request(actor=charlie, conversation=room)
    with pytest.raises(Forbidden):
        services.message_send(sender=charlie, conversation_id=room.pk, text="hi")
    with pytest.raises(Forbidden):
        selectors.conversation_for_reader(user=charlie, conversation_id=room.pk)


# --- direct messages ----------------------------------------------------------------------


def test_direct_message_creates_one_conversation_per_pair(alice, bob):
    first, _ = services.direct_message_send(sender=alice, recipient_id=bob.pk, text="hi")
    reply, _ = services.direct_message_send(sender=bob, recipient_id=alice.pk, text="hey")
    assert first.conversation_id == reply.conversation_id
    assert reply.seq == 2
    conversation = Conversation.objects.get()
    assert conversation.kind == "direct"
    assert set(conversation.memberships.values_list("user__username", "status")) == {
        ("alice", "approved"),
        ("bob", "approved"),
    }


def test_database_allows_one_direct_conversation_per_pair(alice, bob):
    services.direct_message_send(sender=alice, recipient_id=bob.pk, text="hi")
    low, high = sorted((alice.pk, bob.pk))
    with pytest.raises(IntegrityError), transaction.atomic():
        Conversation.objects.create(kind="direct", direct_low_id=low, direct_high_id=high)


@pytest.mark.parametrize("blocker", ["sender", "recipient"])
def test_blocking_either_way_stops_direct_messages(alice, bob, blocker):
    services.direct_message_send(sender=alice, recipient_id=bob.pk, text="before")
    if blocker == "sender":
        block_create(blocker=alice, blocked_id=bob.pk)
    else:
        block_create(blocker=bob, blocked_id=alice.pk)
    with pytest.raises(Blocked):
        services.direct_message_send(sender=alice, recipient_id=bob.pk, text="after")
    conversation = Conversation.objects.get()
    with pytest.raises(Blocked):
        services.message_send(sender=bob, conversation_id=conversation.pk, text="reply")
    assert Message.objects.count() == 1


def test_blocked_first_contact_creates_no_conversation(alice, bob):
    block_create(blocker=bob, blocked_id=alice.pk)
    with pytest.raises(Blocked):
        services.direct_message_send(sender=alice, recipient_id=bob.pk, text="hi")
    assert not Conversation.objects.exists()


def test_unblocking_lets_direct_messages_through_again(alice, bob):
    block_create(blocker=bob, blocked_id=alice.pk)
    block_delete(blocker=bob, blocked_id=alice.pk)
    _, created = services.direct_message_send(sender=alice, recipient_id=bob.pk, text="hi")
    assert created


def test_direct_to_yourself_or_nobody(alice, bob):
    with pytest.raises(Invalid):
        services.direct_message_send(sender=alice, recipient_id=alice.pk, text="me")
    with pytest.raises(NotFound):
        services.direct_message_send(sender=alice, recipient_id=999999, text="?")
    bob.is_active = False
    bob.save()
    with pytest.raises(NotFound):
        services.direct_message_send(sender=alice, recipient_id=bob.pk, text="gone?")
    assert not Conversation.objects.exists()


def test_bad_direct_text_creates_no_conversation(alice, bob):
    with pytest.raises(Invalid):
        services.direct_message_send(sender=alice, recipient_id=bob.pk, text="   ")
    assert not Conversation.objects.exists()


def test_direct_conversation_cannot_be_left_or_changed(alice, bob, charlie):
    message, _ = services.direct_message_send(sender=alice, recipient_id=bob.pk, text="hi")
    direct = message.conversation
    with pytest.raises(Forbidden):
        memberships.membership_leave(actor=alice, conversation=direct)
    with pytest.raises(Forbidden):
        memberships.membership_add(actor=alice, conversation=direct, user_id=charlie.pk)
    with pytest.raises(Forbidden):
        memberships.membership_remove(actor=alice, conversation=direct, user_id=bob.pk)


# --- memberships --------------------------------------------------------------------------


def test_creator_is_the_admin(alice):
    conversation = services.conversation_create(actor=alice, kind="room", name=" Chess ")
    assert conversation.name == "Chess"
    assert role_of(conversation, alice) == "admin"
    assert status_of(conversation, alice) == "approved"


@pytest.mark.parametrize(
    ("kind", "name"), [("direct", "x"), ("channel", "x"), ("group", " "), ("room", "n" * 101)]
)
def test_bad_conversation_input(alice, kind, name):
    with pytest.raises(Invalid):
        services.conversation_create(actor=alice, kind=kind, name=name)
    assert not Conversation.objects.exists()


def test_room_join_flow(alice, charlie, room):
    assert memberships.membership_request(actor=charlie, conversation=room).status == "pending"
    assert memberships.membership_request(actor=charlie, conversation=room).status == "pending"
    memberships.membership_reject(actor=alice, conversation=room, user_id=charlie.pk)
    assert status_of(room, charlie) == "rejected"
    assert memberships.membership_request(actor=charlie, conversation=room).status == "pending"
    memberships.membership_approve(actor=alice, conversation=room, user_id=charlie.pk)
    assert status_of(room, charlie) == "approved"
    with pytest.raises(Conflict):
        memberships.membership_request(actor=charlie, conversation=room)


def test_approving_what_is_not_pending_conflicts(alice, bob, charlie, room):
    with pytest.raises(Conflict):
        memberships.membership_approve(actor=alice, conversation=room, user_id=bob.pk)
    with pytest.raises(Conflict):
        memberships.membership_reject(actor=alice, conversation=room, user_id=charlie.pk)


def test_groups_cannot_be_asked_into(charlie, group):
    with pytest.raises(NotFound):
        memberships.membership_request(actor=charlie, conversation=group)


def test_only_admins_decide(alice, bob, charlie, room):
    memberships.membership_request(actor=charlie, conversation=room)
    for decide in (
        memberships.membership_approve,
        memberships.membership_reject,
        memberships.membership_ban,
    ):
        with pytest.raises(Forbidden):
            decide(actor=bob, conversation=room, user_id=charlie.pk)
    with pytest.raises(Forbidden):
        memberships.membership_set_role(actor=bob, conversation=room, user_id=bob.pk, role="admin")
    with pytest.raises(Forbidden):
        memberships.membership_add(actor=bob, conversation=room, user_id=charlie.pk)
    assert status_of(room, charlie) == "pending"


def test_banned_user_may_not_ask_again(alice, charlie, room):
    memberships.membership_ban(actor=alice, conversation=room, user_id=charlie.pk)
    with pytest.raises(Forbidden):
        memberships.membership_request(actor=charlie, conversation=room)
    assert status_of(room, charlie) == "banned"


def test_removed_and_departed_may_ask_again(alice, bob, charlie, room):
    memberships.membership_remove(actor=alice, conversation=room, user_id=bob.pk)
    assert memberships.membership_request(actor=bob, conversation=room).status == "pending"
    memberships.membership_request(actor=charlie, conversation=room)
    memberships.membership_approve(actor=alice, conversation=room, user_id=charlie.pk)
    memberships.membership_leave(actor=charlie, conversation=room)
    assert memberships.membership_request(actor=charlie, conversation=room).status == "pending"


def test_last_admin_leaving_promotes_the_longest_standing_member(alice, bob, charlie, group):
    memberships.membership_add(actor=alice, conversation=group, user_id=charlie.pk)
    memberships.membership_leave(actor=alice, conversation=group)
    assert status_of(group, alice) == "removed"
    assert role_of(group, bob) == "admin"
    assert role_of(group, charlie) == "member"


def test_an_admin_leaving_while_another_remains_promotes_nobody(alice, bob, charlie, group):
    memberships.membership_add(actor=alice, conversation=group, user_id=charlie.pk)
    memberships.membership_set_role(
        actor=alice, conversation=group, user_id=charlie.pk, role="admin"
    )
    memberships.membership_leave(actor=alice, conversation=group)
    assert role_of(group, bob) == "member"
    assert role_of(group, charlie) == "admin"


def test_last_admin_cannot_be_demoted(alice, group):
    with pytest.raises(Conflict):
        memberships.membership_set_role(
            actor=alice, conversation=group, user_id=alice.pk, role="member"
        )


def test_admin_removes_and_ban_clears_role(alice, bob, group):
    memberships.membership_set_role(actor=alice, conversation=group, user_id=bob.pk, role="admin")
    memberships.membership_ban(actor=bob, conversation=group, user_id=alice.pk)
    assert status_of(group, alice) == "banned"
    assert role_of(group, alice) == "member"
    with pytest.raises(Invalid):
        memberships.membership_ban(actor=bob, conversation=group, user_id=bob.pk)


def test_removed_member_sees_a_group_no_more(alice, bob, group):
    memberships.membership_remove(actor=alice, conversation=group, user_id=bob.pk)
    with pytest.raises(NotFound):
        selectors.conversation_for_viewer(user=bob, conversation_id=group.pk)


def test_moderator_decides_without_being_a_member(alice, bob, charlie, make_user, room):
    from django.contrib.auth.models import Permission

    moderator = make_user("mod")
    moderator.user_permissions.add(
        Permission.objects.get(codename="moderate", content_type__app_label="chat")
    )
    memberships.membership_ban(actor=moderator, conversation=room, user_id=bob.pk)
    assert status_of(room, bob) == "banned"


# --- cursors and reading ------------------------------------------------------------------


def test_read_cursor_never_moves_back_nor_past_the_end(alice, bob, group, send):
    for _ in range(3):
        send(alice, group)
    assert services.conversation_mark_read(user=bob, conversation=group, seq=2).read_seq == 2
    assert services.conversation_mark_read(user=bob, conversation=group, seq=1).read_seq == 2
    moved = services.conversation_mark_read(user=bob, conversation=group, seq=99)
    assert moved.read_seq == 3
    assert moved.delivered_seq == 3


@pytest.mark.parametrize("seq", [-1, "3", None, True])
def test_bad_read_seq(bob, group, seq):
    with pytest.raises(Invalid):
        services.conversation_mark_read(user=bob, conversation=group, seq=seq)


def test_history_pages(alice, group, send):
    for i in range(1, 8):
        send(alice, group, f"m{i}")

    def seqs(**kwargs):
        rows, more = selectors.message_page(user=alice, conversation=group, **kwargs)
        return [m.seq for m in rows], more

    assert seqs(limit=3) == ([5, 6, 7], True)
    assert seqs(before_seq=5, limit=3) == ([2, 3, 4], True)
    assert seqs(before_seq=2, limit=3) == ([1], False)
    assert seqs(after_seq=4, limit=2) == ([5, 6], True)
    assert seqs(after_seq=6, limit=2) == ([7], False)
    assert seqs(after_seq=2, before_seq=6) == ([3, 4, 5], False)
    assert seqs(after_seq=7) == ([], False)


@pytest.mark.parametrize(
    "kwargs",
    [{"limit": 0}, {"limit": 201}, {"after_seq": "x"}, {"before_seq": -1}, {"limit": "many"}],
)
def test_bad_history_cursor(alice, group, kwargs):
    with pytest.raises(Invalid):
        selectors.message_page(user=alice, conversation=group, **kwargs)


def test_blocked_sender_is_hidden_from_group_history_and_unread(alice, bob, charlie, group, send):
    memberships.membership_add(actor=alice, conversation=group, user_id=charlie.pk)
    send(alice, group, "from alice")
    send(charlie, group, "from charlie")
    block_create(blocker=bob, blocked_id=charlie.pk)
    rows, _ = selectors.message_page(user=bob, conversation=group)
    assert [m.text for m in rows] == ["from alice"]
    listed = listing.conversation_page(user=bob, cursor=None, limit=50, inbox=False)
    assert [item["unread"] for item in json.loads(listed.results)] == [1]
    # Charlie still sees everything, and bob can still see charlie is a member.
    rows, _ = selectors.message_page(user=charlie, conversation=group)
    assert len(rows) == 2
    bob_membership = Membership.objects.get(conversation=group, user=bob)
    members = selectors.members_visible_to(membership=bob_membership)
    assert charlie.pk in {m.user_id for m in members}
    block_delete(blocker=bob, blocked_id=charlie.pk)
    rows, _ = selectors.message_page(user=bob, conversation=group)
    assert len(rows) == 2


def test_tombstone_keeps_seq_and_clears_text(alice, bob, group, send):
    message = send(bob, group, "oops")
    send(bob, group, "after")
    services.message_tombstone(actor=alice, message=message)
    rows, _ = selectors.message_page(user=bob, conversation=group)
    assert [(m.seq, m.text, m.deleted_at is not None) for m in rows] == [
        (1, "", True),
        (2, "after", False),
    ]
    with pytest.raises(Forbidden):
        services.message_tombstone(actor=bob, message=rows[1])
