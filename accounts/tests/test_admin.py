import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from rest_framework.authtoken.models import Token

from accounts.services import block_create

pytestmark = pytest.mark.django_db
User = get_user_model()


@pytest.mark.parametrize(
    "path",
    [
        "/admin/accounts/user/",
        "/admin/accounts/user/?q=ali&is_active__exact=1",
        "/admin/accounts/block/",
        "/admin/accounts/block/?q=alice",
        "/admin/accounts/apitoken/",
        "/admin/accounts/apitoken/?q=alice&user__is_active__exact=1",
    ],
)
def test_admin_lists_search_and_filter(moderator, alice, bob, path):
    block_create(blocker=alice, blocked_id=bob.pk)
    response = moderator.get(path)
    assert response.status_code == 200
    assert b"alice" in response.content


def test_block_changelist_does_not_query_per_row(
    moderator, make_user, alice, django_assert_max_num_queries
):
    for i in range(20):
        block_create(blocker=alice, blocked_id=make_user(f"b{i}").pk)
    with django_assert_max_num_queries(12):
        assert moderator.get("/admin/accounts/block/").status_code == 200


def test_deactivate_action(moderator, alice, bob, charlie):
    response = moderator.post(
        "/admin/accounts/user/",
        {"action": "deactivate_users", "_selected_action": [alice.pk, bob.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert b"Deactivated 2 user(s)." in response.content
    assert set(User.objects.filter(is_active=False).values_list("username", flat=True)) == {
        "alice",
        "bob",
    }
    assert not Token.objects.filter(user__in=[alice, bob]).exists()
    assert Token.objects.filter(user=charlie).exists()


def test_unticking_active_in_the_form_revokes_tokens_too(moderator, alice):
    response = moderator.post(
        f"/admin/accounts/user/{alice.pk}/change/",
        {
            "username": "alice",
            "name": "Alice",
            "email": "alice@example.com",
            "is_active": "",
            "last_login_0": "",
            "last_login_1": "",
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    alice.refresh_from_db()
    assert not alice.is_active
    assert not Token.objects.filter(user=alice).exists()


def test_seed_demo_is_idempotent():
    call_command("seed_demo")
    call_command("seed_demo")
    users = {user.username: user for user in User.objects.all()}
    assert set(users) == {"alice", "bob", "carol", "admin"}
    assert users["admin"].is_superuser
    assert users["admin"].is_staff
    assert not users["alice"].is_staff
    for user in users.values():
        assert user.check_password("demo-pass-123")
    from boards.models import Board
    from chat.models import Conversation, Message

    assert list(Conversation.objects.order_by("kind").values_list("kind", flat=True)) == [
        "direct",
        "group",
        "room",
    ]
    assert Board.objects.count() == 1
    assert Message.objects.count() == 4


def test_demo_admin_can_sign_in_to_admin():
    call_command("seed_demo")
    browser = Client()
    assert browser.login(username="admin", password="demo-pass-123")
    assert browser.get("/admin/").status_code == 200


def test_database_refuses_duplicate_username_or_email_in_any_case(alice):
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create(username="ALICE")
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create(username="other", email="Alice@Example.com")


def test_database_refuses_self_block(alice):
    from django.db import IntegrityError

    from accounts.models import Block

    with pytest.raises(IntegrityError):
        Block.objects.create(blocker=alice, blocked=alice)


def test_users_cannot_be_deleted_in_admin(moderator, alice):
    assert moderator.get(f"/admin/accounts/user/{alice.pk}/delete/").status_code == 403
