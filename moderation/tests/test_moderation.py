"""Site moderation is a permission, not `is_staff`, and every moderation act is in the
audit log, written in the act's own transaction, through REST, the socket and admin."""

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from boards.services import board_create, board_set_locked
from chat import memberships, services
from chat.models import Membership
from messaging_site.errors import Forbidden, NotFound
from moderation.models import AuditEntry

pytestmark = pytest.mark.django_db
Action = AuditEntry.Action
Right = AuditEntry.Right


def grant(user, app_label):
    user.user_permissions.add(
        Permission.objects.get(codename="moderate", content_type__app_label=app_label)
    )
    return type(user).objects.get(pk=user.pk)  # a fresh object: permissions are cached


@pytest.fixture
def staff(make_user):
    user = make_user("staffer")
    user.is_staff = True
    user.save()
    return user


@pytest.fixture
def room(alice, bob):
    conversation = services.conversation_create(actor=alice, kind="room", name="Lobby")
    memberships.membership_request(actor=bob, conversation=conversation)
    return conversation


@pytest.fixture
def group(alice, bob):
    conversation = services.conversation_create(actor=alice, kind="group", name="Team")
    memberships.membership_add(actor=alice, conversation=conversation, user_id=bob.pk)
    AuditEntry.objects.all().delete()  # that add is logged; each test reads its own acts
    return conversation


ACTS = {
    "approve": lambda actor, c, user: memberships.membership_approve(
        actor=actor, conversation=c, user_id=user.pk
    ),
    "reject": lambda actor, c, user: memberships.membership_reject(
        actor=actor, conversation=c, user_id=user.pk
    ),
    "remove": lambda actor, c, user: memberships.membership_remove(
        actor=actor, conversation=c, user_id=user.pk
    ),
    "ban": lambda actor, c, user: memberships.membership_ban(
        actor=actor, conversation=c, user_id=user.pk
    ),
}


@pytest.mark.parametrize("act", sorted(ACTS))
def test_staff_without_the_permission_are_refused_like_anyone(staff, bob, room, act):
    with pytest.raises(Forbidden):  # a room: a non-member is told it is members only
        ACTS[act](staff, room, bob)
    assert Membership.objects.get(conversation=room, user=bob).status == "pending"
    assert not AuditEntry.objects.exists()


def test_staff_cannot_even_see_a_group_they_are_not_in(staff, bob, group):
    for act in (
        lambda: memberships.membership_remove(actor=staff, conversation=group, user_id=bob.pk),
        lambda: memberships.membership_add(actor=staff, conversation=group, user_id=staff.pk),
        lambda: memberships.membership_set_role(
            actor=staff, conversation=group, user_id=bob.pk, role="admin"
        ),
    ):
        with pytest.raises(NotFound):
            act()
    assert not AuditEntry.objects.exists()


@pytest.mark.parametrize("act", sorted(ACTS))
def test_the_moderate_permission_decides_and_is_logged_as_such(make_user, bob, room, act):
    moderator = grant(make_user("mod"), "chat")
    ACTS[act](moderator, room, bob)
    [entry] = AuditEntry.objects.all()
    assert entry.actor == moderator
    assert entry.right == Right.SITE_MODERATOR
    assert entry.target_user == bob
    assert entry.conversation_id == room.pk
    assert (
        entry.action
        == {
            "approve": Action.MEMBER_APPROVE,
            "reject": Action.MEMBER_REJECT,
            "remove": Action.MEMBER_REMOVE,
            "ban": Action.MEMBER_BAN,
        }[act]
    )


def test_a_conversation_admin_is_logged_as_one(alice, bob, charlie, group):
    memberships.membership_add(actor=alice, conversation=group, user_id=charlie.pk)
    memberships.membership_set_role(actor=alice, conversation=group, user_id=bob.pk, role="admin")
    message, _ = services.message_send(sender=charlie, conversation_id=group.pk, text="spam")
    services.message_tombstone(actor=bob, message=message)
    services.message_tombstone(actor=bob, message=message)  # twice: one act
    entries = list(AuditEntry.objects.order_by("id"))
    assert [(e.actor, e.action, e.right, e.target_user) for e in entries] == [
        (alice, Action.MEMBER_ADD, Right.CONVERSATION_ADMIN, charlie),
        (alice, Action.MEMBER_ROLE, Right.CONVERSATION_ADMIN, bob),
        (bob, Action.MESSAGE_DELETE, Right.CONVERSATION_ADMIN, charlie),
    ]
    assert entries[1].detail == "to admin"
    assert entries[2].message_id == message.pk


def test_a_refused_act_leaves_no_entry(alice, bob, group):
    with pytest.raises(Forbidden):  # bob is a member, not an admin
        memberships.membership_remove(actor=bob, conversation=group, user_id=alice.pk)
    assert not AuditEntry.objects.exists()


def test_board_locks_need_the_boards_permission(staff, make_user, alice):
    board = board_create(actor=alice, name="General")
    with pytest.raises(Forbidden):
        board_set_locked(actor=staff, board=board, locked=True)
    with pytest.raises(Forbidden):  # chat's permission is not boards'
        board_set_locked(actor=grant(make_user("chatmod"), "chat"), board=board, locked=True)
    moderator = grant(make_user("boardmod"), "boards")
    assert board_set_locked(actor=moderator, board=board, locked=True).locked
    assert board_set_locked(actor=moderator, board=board, locked=True).locked  # no change
    assert not board_set_locked(actor=moderator, board=board, locked=False).locked
    assert list(AuditEntry.objects.order_by("id").values_list("action", "board_id")) == [
        (Action.BOARD_LOCK, board.pk),
        (Action.BOARD_UNLOCK, board.pk),
    ]


def test_staff_over_rest_and_socket_frames_get_what_strangers_get(staff, bob, room, client_for):
    api = client_for(staff)
    response = api.post(f"/api/conversations/{room.pk}/members/{bob.pk}/approve/")
    assert response.status_code == 403
    assert Membership.objects.get(conversation=room, user=bob).status == "pending"


def test_the_log_is_readable_and_read_only_in_admin(moderator, alice, bob, group):
    memberships.membership_remove(actor=alice, conversation=group, user_id=bob.pk)
    page = moderator.get("/admin/moderation/auditentry/")
    assert page.status_code == 200
    assert b"removed a member" in page.content
    entry = AuditEntry.objects.get()
    assert moderator.get(f"/admin/moderation/auditentry/{entry.pk}/delete/").status_code == 403
    assert moderator.get("/admin/moderation/auditentry/add/").status_code == 403


def test_deactivation_in_admin_is_logged(moderator, bob):
    page = moderator.post(
        "/admin/accounts/user/",
        {"action": "deactivate_users", "_selected_action": [bob.pk]},
    )
    assert page.status_code == 302
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.target_user) == (Action.USER_DEACTIVATE, bob)
    assert Client().login(username="bob", password="x") is False


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_staff_over_the_socket_get_what_strangers_get(staff, bob, room):
    from channels.db import database_sync_to_async
    from channels.testing import WebsocketCommunicator

    from messaging_site.asgi import application

    key = await database_sync_to_async(lambda: staff.auth_token.key)()
    socket = WebsocketCommunicator(application, f"/ws/?token={key}")
    assert (await socket.connect())[0]
    await socket.send_json_to(
        {"action": "joinRoom", "subAction": "approve", "roomId": room.pk, "targetUserId": bob.pk}
    )
    error = await socket.receive_json_from(timeout=3)
    assert (error["action"], error["code"]) == ("error", "forbidden")
    status = await database_sync_to_async(
        lambda: Membership.objects.get(conversation=room, user=bob).status
    )()
    assert status == "pending"
    await socket.disconnect()


def test_board_lock_actions_are_offered_only_to_board_moderators(staff, alice):
    from django.contrib.auth.models import Permission

    from boards.models import Board

    board = board_create(actor=alice, name="General")
    staff.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_board", "change_board"])
    )
    browser = Client()
    browser.force_login(staff)
    page = browser.get("/admin/boards/board/")
    assert page.status_code == 200
    assert b"lock_boards" not in page.content
    response = browser.post(
        "/admin/boards/board/", {"action": "lock_boards", "_selected_action": [board.pk]}
    )
    assert response.status_code < 500
    assert not Board.objects.get(pk=board.pk).locked
