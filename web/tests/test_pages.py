"""The web UI's pages and forms, through Django's test client: who sees what, what each
form changes, and that everything a user typed comes back escaped."""

import logging

import pytest
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.models import Block, User
from accounts.services import block_create
from boards.models import Board, BoardMessage
from boards.services import board_create
from chat import memberships, presence, services, uploads
from chat.models import Conversation, Membership, Message
from messaging_site.errors import NotFound
from messaging_site.logfilters import RefusalsWithoutTraceback

pytestmark = pytest.mark.django_db

XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture
def browser_for():
    def make(user):
        client = Client(enforce_csrf_checks=True)
        client.force_login(user)
        return client

    return make


def _csrf(client, url):
    """A page's CSRF token, as a browser would get it from the form."""
    response = client.get(url)
    return (
        response.cookies["csrftoken"].value
        if "csrftoken" in response.cookies
        else (client.cookies["csrftoken"].value)
    )


def post(client, url, data=None, page=None, **headers):
    token = _csrf(client, page or url)
    return client.post(url, {**(data or {}), "csrfmiddlewaretoken": token}, **headers)


@pytest.fixture
def group(alice, bob):
    conversation = services.conversation_create(actor=alice, kind="group", name="Team")
    memberships.membership_add(actor=alice, conversation=conversation, user_id=bob.pk)
    return conversation


@pytest.fixture
def room(alice):
    return services.conversation_create(actor=alice, kind="room", name="Lobby")


# --- who sees what --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["/", "/rooms/", "/boards/", "/blocks/", "/new/", "/direct/", "/c/1/"]
)
def test_pages_need_a_signed_in_user(url):
    response = Client().get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


@pytest.mark.parametrize("url", ["/login/", "/signup/"])
def test_public_pages_render(url):
    response = Client().get(url)
    assert response.status_code == 200
    assert b'name="csrfmiddlewaretoken"' in response.content


def test_every_page_renders_for_a_member(browser_for, alice, bob, group, room):
    services.message_send(sender=alice, conversation_id=group.pk, text="hello")
    board = board_create(actor=alice, name="News")
    client = browser_for(alice)
    for url in ["/", "/rooms/", "/boards/", "/blocks/", "/new/", "/direct/",
                f"/c/{group.pk}/", f"/c/{room.pk}/", f"/boards/{board.pk}/"]:  # fmt: skip
        response = client.get(url)
        assert response.status_code == 200, url
        assert response.headers["Content-Security-Policy"].startswith("default-src 'self'")
        assert b"<script>" not in response.content  # no inline scripts, ever


def test_a_stranger_gets_404_for_a_group(browser_for, charlie, group):
    assert browser_for(charlie).get(f"/c/{group.pk}/").status_code == 404
    response = post(browser_for(charlie), f"/c/{group.pk}/leave/", page="/")
    assert response.status_code == 404


def test_a_rooms_non_member_sees_only_the_invitation_to_join(browser_for, alice, charlie, room):
    services.message_send(sender=alice, conversation_id=room.pk, text="members only")
    response = browser_for(charlie).get(f"/c/{room.pk}/")
    assert response.status_code == 200
    assert b"Ask to join" in response.content
    assert b"members only" not in response.content


def test_conversation_page_renders_history_and_members(browser_for, alice, bob, group):
    for i in range(3):
        services.message_send(sender=alice, conversation_id=group.pk, text=f"m{i}")
    body = browser_for(bob).get(f"/c/{group.pk}/").content.decode()
    assert body.index("m0") < body.index("m1") < body.index("m2")
    assert f'data-user="{alice.pk}"' in body
    assert 'id="page-data"' in body


# --- escaping -------------------------------------------------------------------------------


def test_everything_people_type_is_escaped(browser_for, alice, bob):
    evil = User.objects.create_user(username="evil", password="x", name=XSS)
    group = services.conversation_create(actor=alice, kind="group", name=XSS)
    memberships.membership_add(actor=alice, conversation=group, user_id=bob.pk)
    services.message_send(sender=alice, conversation_id=group.pk, text=XSS)
    services.direct_message_send(sender=evil, recipient_id=bob.pk, text=XSS)
    board = board_create(actor=alice, name="Board")
    BoardMessage.objects.create(board=board, user=alice, topic=XSS[:60], data=XSS)
    client = browser_for(bob)
    for url in ["/", f"/c/{group.pk}/", f"/boards/{board.pk}/", "/rooms/?q=" + XSS]:
        body = client.get(url).content.decode()
        assert "<img" not in body, url


# --- forms ----------------------------------------------------------------------------------


def test_signup_creates_the_user_and_signs_in():
    client = Client()
    response = client.post(
        "/signup/",
        {"username": "dora", "name": "Dora", "email": "", "password": "a-long-enough-pass-42"},
    )
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.get("/").status_code == 200
    assert User.objects.filter(username="dora").exists()


def test_signup_errors_write_nothing(alice):
    response = Client().post("/signup/", {"username": "ALICE", "password": "short"})
    assert response.status_code == 200
    assert b"already" in response.content.lower()
    assert User.objects.count() == 1


def test_login_and_logout(alice):
    client = Client()
    response = client.post(
        "/login/", {"username": "alice", "password": "a-long-enough-passphrase-42"}
    )
    assert response.status_code == 302
    assert client.get("/").status_code == 200
    assert client.post("/logout/").status_code == 302
    assert client.get("/").status_code == 302


def test_forms_refuse_a_missing_csrf_token(browser_for, alice):
    response = browser_for(alice).post("/new/", {"kind": "group", "name": "x"})
    assert response.status_code == 403
    assert not Conversation.objects.exists()


def test_create_a_group_with_members(browser_for, alice, bob, charlie):
    response = post(
        browser_for(alice), "/new/", {"kind": "group", "name": "Trip", "members": "bob, CHARLIE"}
    )
    group = Conversation.objects.get(name="Trip")
    assert response["Location"] == f"/c/{group.pk}/"
    assert set(
        group.memberships.filter(status="approved").values_list("user__username", flat=True)
    ) == {"alice", "bob", "charlie"}


def test_create_with_an_unknown_member_writes_nothing(browser_for, alice):
    response = post(browser_for(alice), "/new/", {"kind": "group", "name": "T", "members": "zed"})
    assert response.status_code == 200
    assert "Nobody is called “zed”" in response.content.decode()
    assert not Conversation.objects.exists()


def test_direct_message_by_username(browser_for, alice, bob):
    response = post(browser_for(alice), "/direct/", {"username": "Bob", "text": "hi"})
    message = Message.objects.get()
    assert response["Location"] == f"/c/{message.conversation_id}/"
    assert message.text == "hi"


def test_direct_message_to_someone_who_blocks_you_is_refused_clearly(browser_for, alice, bob):
    block_create(blocker=bob, blocked_id=alice.pk)
    response = post(browser_for(alice), "/direct/", {"username": "bob", "text": "hi"})
    assert response.status_code == 200
    assert "blocks" in response.content.decode()
    assert not Message.objects.exists()


def test_block_and_unblock(browser_for, alice, bob):
    client = browser_for(alice)
    post(client, "/blocks/", {"username": "bob"})
    assert Block.objects.filter(blocker=alice, blocked=bob).exists()
    assert "bob" in client.get("/blocks/").content.decode()
    post(client, f"/blocks/{bob.pk}/unblock/", page="/blocks/")
    assert not Block.objects.exists()


def test_join_request_and_live_approval_form(browser_for, alice, charlie, room):
    post(browser_for(charlie), f"/c/{room.pk}/join/", page="/rooms/")
    assert Membership.objects.get(conversation=room, user=charlie).status == "pending"
    page = browser_for(alice).get(f"/c/{room.pk}/").content.decode()
    assert f"/c/{room.pk}/members/{charlie.pk}/approve/" in page
    response = post(
        browser_for(alice),
        f"/c/{room.pk}/members/{charlie.pk}/approve/",
        page=f"/c/{room.pk}/",
        HTTP_X_REQUESTED_WITH="fetch",
    )
    assert response.json() == {"ok": True, "message": "charlie was approved."}
    assert Membership.objects.get(conversation=room, user=charlie).status == "approved"


def test_a_non_admin_cannot_approve(browser_for, alice, bob, charlie, room):
    memberships.membership_request(actor=bob, conversation=room)
    memberships.membership_approve(actor=alice, conversation=room, user_id=bob.pk)
    memberships.membership_request(actor=charlie, conversation=room)
    response = post(
        browser_for(bob),
        f"/c/{room.pk}/members/{charlie.pk}/approve/",
        page=f"/c/{room.pk}/",
        HTTP_X_REQUESTED_WITH="fetch",
    )
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
    assert Membership.objects.get(conversation=room, user=charlie).status == "pending"


def test_leave_a_group(browser_for, bob, group):
    response = post(browser_for(bob), f"/c/{group.pk}/leave/", page=f"/c/{group.pk}/")
    assert response["Location"] == "/"
    assert Membership.objects.get(conversation=group, user=bob).status != "approved"


def test_send_without_javascript(browser_for, bob, group):
    post(browser_for(bob), f"/c/{group.pk}/send/", {"text": "plain form"}, page=f"/c/{group.pk}/")
    assert Message.objects.get().text == "plain form"


def test_empty_message_is_refused_and_writes_nothing(browser_for, bob, group):
    response = post(
        browser_for(bob),
        f"/c/{group.pk}/send/",
        {"text": "   "},
        page=f"/c/{group.pk}/",
        HTTP_X_REQUESTED_WITH="fetch",
    )
    assert response.status_code == 400
    assert not Message.objects.exists()


def test_boards_create_post_and_filter(browser_for, alice):
    client = browser_for(alice)
    response = post(client, "/boards/", {"name": "Announcements"})
    board = Board.objects.get()
    assert response["Location"] == f"/boards/{board.pk}/"
    post(client, f"/boards/{board.pk}/", {"topic": "news", "data": "first"})
    post(client, f"/boards/{board.pk}/", {"topic": "chat", "data": "second"})
    body = client.get(f"/boards/{board.pk}/?topic=news").content.decode()
    assert "first" in body
    assert "second" not in body


def test_posting_on_a_locked_board_is_refused(browser_for, alice):
    board = Board.objects.create(name="Old", created_by=alice, locked=True)
    response = post(browser_for(alice), f"/boards/{board.pk}/", {"topic": "t", "data": "d"})
    assert response.status_code == 200
    assert not BoardMessage.objects.exists()


def test_join_never_redirects_off_site(browser_for, alice, charlie, room):
    for target in ["https://evil.example/", "//evil.example/", "/\\evil.example"]:
        response = post(
            browser_for(charlie), f"/c/{room.pk}/join/", {"next": target}, page="/rooms/"
        )
        assert response["Location"] == "/rooms/", target


def test_create_group_is_all_or_nothing(browser_for, alice, bob, make_user):
    gone = make_user("gone")
    gone.is_active = False
    gone.save()
    response = post(browser_for(alice), "/new/", {"kind": "group", "name": "T", "members": "bob"})
    assert response.status_code == 302
    with pytest.raises(NotFound):
        memberships.group_create(actor=alice, name="Half", user_ids=[bob.pk, gone.pk])
    assert not Conversation.objects.filter(name="Half").exists()


# --- query counts: a page of 3 costs what a page of 30 costs ---------------------------------


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_page_query_counts_do_not_grow(browser_for, alice, bob, make_user):
    group = services.conversation_create(actor=alice, kind="group", name="G")
    memberships.membership_add(actor=alice, conversation=group, user_id=bob.pk)
    board = board_create(actor=alice, name="B")
    client = browser_for(alice)

    def grow(start, count):
        for i in range(start, start + count):
            services.message_send(sender=bob, conversation_id=group.pk, text=f"m{i}")
            services.conversation_create(actor=alice, kind="room", name=f"r{i}")
            BoardMessage.objects.create(board=board, user=bob, topic="t", data=f"d{i}")
            person = make_user(f"p{i}")
            memberships.membership_add(actor=alice, conversation=group, user_id=person.pk)
            block_create(blocker=alice, blocked_id=person.pk)

    urls = ["/", f"/c/{group.pk}/", "/rooms/", f"/boards/{board.pk}/", "/blocks/", "/boards/"]
    grow(0, 3)
    few = {url: _queries(client, url) for url in urls}
    grow(3, 27)
    assert {url: _queries(client, url) for url in urls} == few


def test_logout_by_get_asks_to_confirm_and_post_logs_out(browser_for, alice):
    client = browser_for(alice)
    page = client.get("/logout/")
    assert page.status_code == 200
    assert b'action="/logout/"' in page.content
    assert b'method="post"' in page.content
    assert client.get("/").status_code == 200  # still signed in
    response = client.post("/logout/", {"csrfmiddlewaretoken": _csrf(client, "/logout/")})
    assert response.status_code == 302
    assert response["Location"] == "/login/"
    assert client.get("/").status_code == 302  # signed out now
    assert client.get("/logout/")["Location"] == "/login/"


@pytest.mark.parametrize(("path", "status"), [("/campaigns/", 403), ("/c/999999/", 404)])
def test_refusal_pages_keep_the_navigation(browser_for, alice, path, status):
    response = browser_for(alice).get(path)
    assert response.status_code == status
    assert b'aria-label="Main"' in response.content
    assert b'href="/"' in response.content


def test_a_refusal_is_logged_in_one_line_and_a_failure_with_its_traceback():
    assert "refusals" in settings.LOGGING["handlers"]["console"]["filters"]
    # One handler for everything: Django's defaults would print each record again.
    assert logging.getLogger("django").handlers == []
    assert logging.getLogger("django").propagate
    refusal = logging.makeLogRecord(
        {
            "name": "django.request",
            "msg": "Forbidden",
            "exc_info": (PermissionDenied, PermissionDenied(), None),
        }
    )
    refusal.status_code = 403
    failure = logging.makeLogRecord(
        {"name": "django.request", "msg": "Error", "exc_info": (ValueError, ValueError(), None)}
    )
    failure.status_code = 500
    keep = RefusalsWithoutTraceback()
    assert keep.filter(refusal)
    assert keep.filter(failure)
    assert refusal.exc_info is None
    assert failure.exc_info is not None


def test_every_signed_in_page_has_the_conversation_list(browser_for, alice, bob, charlie, group):
    services.direct_message_send(sender=bob, recipient_id=alice.pk, text="psst")
    services.message_send(sender=bob, conversation_id=group.pk, text="@alice look")
    presence.apply(bob.pk, "open", "bob-tab")
    presence.apply(charlie.pk, "open", "charlie-tab")  # shares nothing with alice
    client = browser_for(alice)
    direct = Conversation.objects.get(kind="direct")
    for url in ["/", "/rooms/", "/boards/", "/blocks/", "/search/?q=x", f"/c/{group.pk}/"]:
        page = client.get(url).content.decode()
        sidebar = page[page.index('<aside id="sidebar"') : page.index("</aside>")]
        assert sidebar.index(">Team<") < sidebar.index(">Bob<"), url  # newest first
        assert '<span class="badge unread" aria-label="1 unread">1</span>' in sidebar
        assert 'aria-label="1 unread mention" title="Mentions of you">@1</span>' in sidebar
        assert f'data-presence-user="{bob.pk}" data-presence="active"' in sidebar
    page = client.get(f"/c/{direct.pk}/").content.decode()
    assert f'href="/c/{direct.pk}/" aria-current="page"' in page
    assert 'id="sidebar"' not in Client().get("/login/").content.decode()
    block_create(blocker=bob, blocked_id=alice.pk)  # his presence is hidden from her now
    page = client.get("/").content.decode()
    assert f'data-presence-user="{bob.pk}" data-presence="offline"' in page


def test_a_file_alone_shows_its_name_in_the_list(browser_for, alice, bob, group):
    file = uploads.upload_create(
        uploader=bob, file=SimpleUploadedFile("plan.pdf", b"%PDF-1.4 plan")
    )
    services.message_send(sender=bob, conversation_id=group.pk, text="", attachments=[file.pk])
    page = browser_for(alice).get("/").content.decode()
    assert '<b>bob:</b> <i class="files-note">plan.pdf</i>' in page
