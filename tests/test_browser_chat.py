"""The web UI in a real browser: Debian's Chromium through Playwright, two people in two
browser contexts, against a real Daphne, Redis and PostgreSQL.

Every page a test opens is watched: a JavaScript error, a console error or a
Content-Security-Policy violation on any of them fails the test. Set UI_SCREENSHOTS=1 to
write the README's screenshots (docs/screenshot-*.png) from the tests that show them.
"""

import io
import os
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from PIL import Image
from playwright.sync_api import expect

from accounts.models import User
from boards.services import board_create
from chat import memberships, services
from chat.models import Membership, Upload
from tests.browser import off_thread

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_room_request_approval_and_chat_with_read_ticks(people, alice, bob):
    a, b = people(alice), people(bob)
    a.open("/new/")
    a.page.check("input[value=room]")
    a.page.fill("#id_name", "Lobby")
    a.page.click("button.primary")
    a.page.wait_for_url("**/c/*/")
    expect(a.page.locator("#connection")).to_have_attribute("data-state", "live")

    b.open("/rooms/")
    b.page.locator("li.room", has_text="Lobby").get_by_role("button", name="Ask to join").click()
    expect(b.page.locator("li.room", has_text="Lobby")).to_contain_text("Request pending")
    expect(b.page.locator("#connection")).to_have_attribute("data-state", "live")

    pending = a.page.locator("#pending-list li", has_text="bob")
    expect(pending).to_be_visible(timeout=3000)  # live, no reload
    pending.get_by_role("button", name="Approve").click()
    expect(a.page.locator("#member-list li", has_text="bob")).to_be_visible()
    expect(pending).to_have_count(0)

    room_row = b.page.locator("li.room", has_text="Lobby")
    expect(room_row.get_by_role("link", name="Open")).to_be_visible(timeout=3000)
    room_row.get_by_role("link", name="Open").click()
    expect(b.page.locator("#connection")).to_have_attribute("data-state", "live")

    a.send("Hi Bob, welcome!")
    expect(b.message("Hi Bob, welcome!")).to_be_visible(timeout=1000)
    b.send("Thanks Alice")
    expect(a.message("Thanks Alice")).to_be_visible(timeout=1000)

    mine = b.page.locator("#messages li.mine", has_text="Thanks Alice").locator(".tick")
    expect(mine).to_have_attribute("data-state", "read", timeout=3000)
    a_tick = a.page.locator("#messages li.mine", has_text="Hi Bob").locator(".tick")
    expect(a_tick).to_have_attribute("data-state", "read", timeout=3000)
    # Read and delivered differ in shape, not only in colour.
    expect(a_tick).to_contain_text("✔✔")

    if os.environ.get("UI_SCREENSHOTS"):
        for text in ["Shall we meet at 6?", "Works for me 👍\nI'll bring the slides."]:
            a.send(text)
            expect(a.message(text.splitlines()[0])).to_be_visible()
        b.send("See you there")
        expect(a.message("See you there")).to_be_visible()
        a.page.evaluate("document.querySelectorAll('.toast').forEach(t => t.hidden = true)")
        a.page.screenshot(path=str(DOCS / "screenshot-conversation.png"))


@pytest.fixture
def group(alice, bob):
    def make():
        conversation = services.conversation_create(actor=alice, kind="group", name="Team")
        memberships.membership_add(actor=alice, conversation=conversation, user_id=bob.pk)
        return conversation

    return off_thread(make)


def test_messages_sent_while_offline_arrive_in_order_without_reload(people, alice, bob, group):
    a, b = people(alice), people(bob)
    a.open(f"/c/{group.pk}/")
    b.open(f"/c/{group.pk}/")
    b.page.evaluate("window.__notReloaded = true")

    b.context.set_offline(True)
    expect(b.page.locator("#connection")).to_have_attribute("data-state", "offline")
    texts = [f"while you were away {i}" for i in range(10)]
    for text in texts:
        a.send(text)
    expect(a.page.locator("#messages li.mine .tick[data-state=sent]")).to_have_count(10)
    b.page.wait_for_timeout(5000)
    assert b.message("while you were away").count() == 0
    b.context.set_offline(False)

    expect(b.message("while you were away")).to_have_count(10, timeout=10000)
    shown = b.page.locator("#messages li .text").all_inner_texts()
    assert [t for t in shown if t.startswith("while")] == texts
    assert b.page.evaluate("window.__notReloaded") is True


def test_a_message_typed_offline_is_sent_once_when_back(people, alice, bob, group):
    a, b = people(alice), people(bob)
    a.open(f"/c/{group.pk}/")
    b.open(f"/c/{group.pk}/")
    a.context.set_offline(True)
    expect(a.page.locator("#connection")).to_have_attribute("data-state", "offline")
    a.send("written on the train")
    expect(a.page.locator("#messages li.mine .tick")).to_have_attribute("data-state", "sending")
    a.context.set_offline(False)
    expect(b.message("written on the train")).to_have_count(1, timeout=10000)
    expect(a.page.locator("#messages li.mine .tick")).not_to_have_attribute("data-state", "sending")
    b.page.wait_for_timeout(500)
    expect(b.message("written on the train")).to_have_count(1)


def test_direct_message_shows_when_the_recipient_opens_it(people, alice, bob):
    a = people(alice)
    a.open("/direct/")
    a.page.fill("#id_username", "bob")
    a.page.fill("#id_text", "Are you free tomorrow?")
    a.page.click("button.primary")
    a.page.wait_for_url("**/c/*/")
    expect(a.message("Are you free tomorrow?")).to_be_visible()

    b = people(bob)  # bob had no page open until now
    row = b.page.locator("#conversations li", has_text="Are you free tomorrow?")
    expect(row.locator(".badge.unread")).to_have_text("1")
    row.click()
    expect(b.message("Are you free tomorrow?")).to_be_visible()
    tick = a.page.locator("#messages li.mine .tick")
    expect(tick).to_have_attribute("data-state", "read", timeout=3000)


def test_home_updates_live(people, alice, bob, group):
    a, b = people(alice), people(bob)
    b.open("/")
    a.open(f"/c/{group.pk}/")
    a.send("news for the home page")
    row = b.page.locator("#conversations li", has_text="Team")
    expect(row).to_contain_text("news for the home page", timeout=2000)
    expect(row.locator(".badge.unread")).to_have_text("1")
    expect(row.locator(".badge.mentions")).to_be_hidden()
    a.send("@bob this one is for you")
    expect(row.locator(".badge.mentions")).to_have_text("@1", timeout=2000)
    expect(row.locator(".badge.unread")).to_have_text("2")
    b.page.reload()  # and as the server renders it
    expect(row.locator(".badge.mentions")).to_have_text("@1")


def test_blocking_refuses_direct_messages_and_hides_room_messages(people, alice, bob, charlie):
    def setup():
        room = services.conversation_create(actor=alice, kind="room", name="Plaza")
        for person in (bob, charlie):
            memberships.membership_request(actor=person, conversation=room)
            memberships.membership_approve(actor=alice, conversation=room, user_id=person.pk)
        message, _ = services.direct_message_send(
            sender=alice, recipient_id=bob.pk, text="before the block"
        )
        return room, message.conversation_id

    room, direct_id = off_thread(setup)
    a, b = people(alice), people(bob)
    b.open("/blocks/")
    b.page.fill("#id_username", "alice")
    b.page.click("button.primary")
    expect(b.page.locator("#blocks")).to_contain_text("alice")

    a.open(f"/c/{direct_id}/")
    a.send("can you hear me?")
    expect(a.page.locator("#notice")).to_contain_text("Not sent")
    refused = a.page.locator("#messages li.mine", has_text="can you hear me?")
    expect(refused).to_have_class(re.compile(r"\bfailed\b"))
    expect(refused).not_to_have_class(re.compile(r"\bdeleted\b"))
    a.open("/direct/")
    a.page.fill("#id_username", "bob")
    a.page.fill("#id_text", "hello?")
    a.page.click("button.primary")
    expect(a.page.locator(".errors")).to_contain_text("blocks")

    b.open(f"/c/{room.pk}/")
    a.open(f"/c/{room.pk}/")
    a.send("alice in the plaza")
    c = people(charlie)
    c.open(f"/c/{room.pk}/")
    expect(c.message("alice in the plaza")).to_be_visible()
    c.send("charlie in the plaza")
    expect(b.message("charlie in the plaza")).to_be_visible(timeout=2000)
    assert b.message("alice in the plaza").count() == 0
    b.page.reload()
    expect(b.message("charlie in the plaza")).to_be_visible()
    assert b.message("alice in the plaza").count() == 0


def test_board_page_updates_live_and_filters_by_topic(people, alice, bob):
    board = off_thread(board_create, actor=alice, name="Announcements")
    a, b = people(alice), people(bob)
    a.open(f"/boards/{board.pk}/")
    b.open(f"/boards/{board.pk}/?topic=release")
    a2 = a.context.new_page()
    a2.on("console", a._console)
    a2.goto(a.url(f"/boards/{board.pk}/"))
    expect(a2.locator("#connection")).to_have_attribute("data-state", "live")

    b.page.fill("#id_data", "6.1 is out")
    b.page.click("#post-form button.primary")
    expect(a.page.locator("#posts li", has_text="6.1 is out")).to_be_visible(timeout=1000)
    expect(b.page.locator("#posts li", has_text="6.1 is out")).to_have_count(1)

    a.page.fill("#id_topic", "lunch")
    a.page.fill("#id_data", "pizza at noon")
    a.page.click("#post-form button.primary")
    expect(a2.locator("#posts li", has_text="pizza at noon")).to_be_visible(timeout=1000)
    b.page.wait_for_timeout(500)
    assert b.page.locator("#posts li", has_text="pizza at noon").count() == 0

    # Two fields, two names; a topic chip filters (also on a post that came live).
    expect(a.page.get_by_label("Filter by topic")).to_be_visible()
    expect(a.page.get_by_label("Post under topic")).to_be_visible()
    a.page.locator("#posts li", has_text="pizza at noon").locator("a.topic").click()
    a.page.wait_for_url("**?topic=lunch")
    expect(a.page.locator("#posts li")).to_have_count(1)
    expect(a.page.locator("#posts li")).to_contain_text("pizza at noon")


def test_markup_in_a_message_shows_as_text(people, alice, bob, group):
    evil = "<img src=x onerror=alert(1)> <script>alert(2)</script>"
    a, b = people(alice), people(bob)
    a.open(f"/c/{group.pk}/")
    b.open(f"/c/{group.pk}/")
    a.send(evil)
    expect(b.message("onerror")).to_have_text(evil)
    b.page.reload()
    expect(b.message("onerror")).to_have_text(evil)
    b.open("/")
    expect(b.page.locator("#conversations")).to_contain_text("<img src=x")
    for person in (a, b):
        assert person.page.locator("#messages img, #conversations img").count() == 0
        assert person.dialogs == []


def test_every_page_loads_clean(people, alice, bob, group):
    room = off_thread(services.conversation_create, actor=alice, kind="room", name="Quiet")
    board = off_thread(board_create, actor=alice, name="General")
    a = people(alice)
    for path in ["/", "/rooms/", "/rooms/?q=qu", "/boards/", f"/boards/{board.pk}/", "/blocks/",
                 "/new/", "/direct/", f"/c/{group.pk}/", f"/c/{room.pk}/"]:  # fmt: skip
        a.open(path)
    a.page.set_viewport_size({"width": 390, "height": 800})  # a phone
    a.open(f"/c/{group.pk}/")
    expect(a.page.locator("#composer-text")).to_be_visible()
    a.page.get_by_role("button", name="Log out").click()
    a.page.wait_for_url(a.url("/login/"))
    a.page.goto(a.url("/"))
    a.page.wait_for_url("**/login/?next=/")


def test_a_lost_ack_neither_duplicates_nor_loses_the_message(people, alice, bob, group):
    """The message commits but its ack never reaches the page, and the socket drops: after
    reconnecting, the catch-up and the resend (same clientId) show it exactly once."""
    a, b = people(alice), people(bob)
    dropped = []

    def route(client):
        server = client.connect_to_server()
        client.on_message(server.send)

        def from_server(message):
            if '"action":"ack"' in message and not dropped:
                dropped.append(message)
                client.close()  # the ack is lost with the connection
                return
            client.send(message)

        server.on_message(from_server)

    a.page.route_web_socket("**/ws/", route)
    a.open(f"/c/{group.pk}/")
    b.open(f"/c/{group.pk}/")
    a.send("sent exactly once")
    expect(b.message("sent exactly once")).to_have_count(1, timeout=3000)
    expect(a.page.locator("#connection")).to_have_attribute("data-state", "live", timeout=10000)
    expect(a.page.locator("#messages li.mine .tick")).not_to_have_attribute(
        "data-state", "sending", timeout=10000
    )
    assert dropped
    expect(a.message("sent exactly once")).to_have_count(1)
    a.page.wait_for_timeout(1000)
    expect(a.message("sent exactly once")).to_have_count(1)
    expect(b.message("sent exactly once")).to_have_count(1)


def test_scrolling_up_loads_older_messages_in_order(people, alice, bob, group):
    def fill():
        for i in range(120):
            services.message_send(sender=alice, conversation_id=group.pk, text=f"history {i:03}")

    off_thread(fill)
    b = people(bob)
    b.open(f"/c/{group.pk}/")
    expect(b.message("history")).to_have_count(50)
    for expected in (100, 120):
        b.page.locator("#scroller").evaluate("node => { node.scrollTop = 0; }")
        expect(b.message("history")).to_have_count(expected)
    shown = b.page.locator("#messages li .text").all_inner_texts()
    assert shown == [f"history {i:03}" for i in range(120)]
    expect(b.page.locator("#older")).to_be_hidden()


def test_a_room_s_own_page_opens_the_room_once_the_request_is_approved(people, alice, charlie):
    room = off_thread(services.conversation_create, actor=alice, kind="room", name="Quiet")
    c = people(charlie)
    c.open(f"/c/{room.pk}/")
    c.page.get_by_role("button", name="Ask to join").click()
    expect(c.page.locator("#room-state")).to_contain_text("waiting for an admin")
    expect(c.page.locator("#connection")).to_have_attribute("data-state", "live")
    off_thread(memberships.membership_approve, actor=alice, conversation=room, user_id=charlie.pk)
    expect(c.page.locator("#composer")).to_be_visible(
        timeout=5000
    )  # the room itself, no reload by hand
    expect(c.page.locator("#room-state")).to_have_count(0)


def test_a_removed_member_s_page_says_so_and_no_longer_lists_them(people, alice, bob, group):
    b = people(bob)
    b.open(f"/c/{group.pk}/")
    expect(b.page.locator("#member-list li", has_text="bob")).to_be_visible()
    expect(b.page.locator("#member-count")).to_have_text("2")
    off_thread(memberships.membership_remove, actor=alice, conversation=group, user_id=bob.pk)
    expect(b.page.get_by_text("You are no longer a member of this conversation.")).to_be_visible(
        timeout=3000
    )
    expect(b.page.locator("#member-list li", has_text="bob")).to_have_count(0)
    expect(b.page.locator("#member-count")).to_have_text("1")
    expect(b.page.get_by_role("button", name="Leave group")).to_be_hidden()
    expect(b.page.locator("#composer textarea")).to_be_disabled()


def test_a_long_conversation_opens_at_its_newest_message(people, alice, bob, group):
    for i in range(60):
        off_thread(
            services.message_send,
            sender=alice,
            conversation_id=group.pk,
            text=f"line {i}\nand more\n{'x' * (i % 7) * 20}",
        )
    b = people(bob)
    b.open(f"/c/{group.pk}/")
    expect(b.message("line 59")).to_be_visible()
    b.page.wait_for_timeout(300)  # times written out, the composer sized
    gap = b.page.evaluate(
        "(s => s.scrollHeight - s.scrollTop - s.clientHeight)(document.getElementById('scroller'))"
    )
    assert gap <= 2


def test_reply_react_edit_delete_and_mention_live_between_two_people(people, alice, bob, group):
    a, b = people(alice), people(bob)
    a.open(f"/c/{group.pk}/")
    b.open(f"/c/{group.pk}/")

    a.send("hello **world**, see https://example.com")
    theirs = b.page.locator("#messages li.message[data-seq='1']")
    expect(theirs.locator(".text strong")).to_have_text("world", timeout=3000)
    expect(theirs.locator(".text a")).to_have_attribute("rel", "noopener nofollow ugc")
    mine = a.page.locator("#messages li.message[data-seq='1']")
    expect(mine.locator(".text strong")).to_have_text("world")  # the ack brings the rendering

    # Reply, with the quote that jumps to the message answered.
    theirs.hover()
    theirs.get_by_role("button", name="Reply").click()
    expect(b.page.locator("#composer-context")).to_contain_text("Replying to alice")
    b.send("hi back")
    reply = a.page.locator("#messages li.message", has_text="hi back")
    expect(reply.locator(".reply-quote")).to_contain_text("alice", timeout=3000)
    expect(reply.locator(".reply-quote")).to_contain_text("hello **world**")
    reply.locator(".reply-quote").click()
    expect(mine).to_have_class(re.compile("target"))

    # React through the picker; the chip toggles and counts, live on both sides.
    theirs.hover()
    theirs.get_by_role("button", name="React").click()
    b.page.get_by_role("menuitem", name="React with 👍").click()
    expect(mine.locator(".chip", has_text="👍")).to_contain_text("1", timeout=3000)
    mine.locator(".chip", has_text="👍").click()
    expect(theirs.locator(".chip", has_text="👍")).to_contain_text("2", timeout=3000)
    expect(mine.locator(".chip.pressed", has_text="👍")).to_be_visible()
    theirs.locator(".chip", has_text="👍").click()
    expect(mine.locator(".chip", has_text="👍")).to_contain_text("1", timeout=3000)

    # Up in the empty composer edits one's last message; Escape would cancel.
    a.page.click("#composer-text")
    a.page.press("#composer-text", "ArrowUp")
    expect(a.page.locator("#composer-context")).to_contain_text("Editing")
    a.page.fill("#composer-text", "hello _everyone_")
    a.page.press("#composer-text", "Enter")
    expect(theirs.locator(".text em")).to_have_text("everyone", timeout=3000)
    expect(theirs.locator(".edited")).to_be_visible()

    # A mention of alice is marked for her.
    b.send("@alice look")
    expect(a.page.locator("#messages .mention.you", has_text="@alice")).to_be_visible(timeout=3000)

    # Deleting one's own message reaches the other side.
    mine.hover()
    mine.get_by_role("button", name="Delete").click()
    expect(theirs).to_contain_text("message deleted", timeout=3000)
    expect(theirs.locator(".chip")).to_have_count(0)
    for person in (a, b):
        assert person.errors == []


def test_days_runs_of_one_sender_and_the_first_unread(people, alice, bob, group):
    off_thread(services.message_send, sender=bob, conversation_id=group.pk, text="mine, read")
    for text in ["first unread", "second", "third"]:
        off_thread(services.message_send, sender=alice, conversation_id=group.pk, text=text)
    b = people(bob)
    b.open(f"/c/{group.pk}/")
    rows = b.page.locator("#messages li.message")
    expect(rows).to_have_count(4)
    expect(rows.nth(0)).to_have_attribute("data-day", "Today")
    expect(rows.nth(1)).to_have_class(re.compile(r"\bfirst-unread\b"))
    expect(rows.nth(1)).not_to_have_class(re.compile(r"\bgrouped\b"))  # the divider starts a run
    expect(rows.nth(2)).to_have_class(re.compile(r"\bgrouped\b"))
    expect(rows.nth(3)).to_have_class(re.compile(r"\bgrouped\b"))
    expect(rows.nth(2).locator(".sender")).to_be_hidden()
    assert b.errors == []


def test_a_hidden_tab_counts_in_its_title_and_notifies_a_mention(people, alice, bob, group):
    b = people(bob)
    b.context.grant_permissions(["notifications"])
    # Record notifications instead of showing them, and play a tab in the background.
    b.page.add_init_script(
        "window.shown = [];"
        "window.Notification = class {"
        "  constructor(title, options) { window.shown.push([title, options.body]); }"
        "};"
        "window.Notification.permission = 'granted';"
        "Object.defineProperty(document, 'visibilityState',"
        "  {get: () => window.hiddenTab ? 'hidden' : 'visible'});"
    )
    b.open(f"/c/{group.pk}/")
    title = b.page.title()
    b.page.evaluate("window.hiddenTab = true")
    off_thread(services.message_send, sender=alice, conversation_id=group.pk, text="no names")
    off_thread(services.message_send, sender=alice, conversation_id=group.pk, text="@bob ping")
    expect(b.page).to_have_title(f"(2) {title}", timeout=3000)
    assert b.page.evaluate("window.shown") == [["alice mentioned you", "@bob ping"]]
    b.page.evaluate(
        "window.hiddenTab = false; document.dispatchEvent(new Event('visibilitychange'))"
    )
    expect(b.page).to_have_title(title)


def test_at_suggests_members_and_completes_the_mention(people, alice, bob, charlie, group):
    off_thread(memberships.membership_add, actor=alice, conversation=group, user_id=charlie.pk)
    a, b = people(alice), people(bob)
    a.open(f"/c/{group.pk}/")
    b.open(f"/c/{group.pk}/")
    a.page.click("#composer-text")
    a.page.keyboard.type("hey @")
    options = a.page.locator("#mention-suggestions li")
    expect(options).to_have_text(["@bob", "@charlie", "@all"])  # not herself; @all: an admin
    a.page.keyboard.type("ch")
    expect(options).to_have_text(["@charlie"])
    a.page.keyboard.press("Enter")  # completes, does not send
    expect(a.page.locator("#composer-text")).to_have_value("hey @charlie ")
    a.page.keyboard.type("and @b")
    a.page.keyboard.press("Tab")
    a.page.keyboard.type("look")
    a.page.keyboard.press("Enter")
    expect(b.page.locator("#messages .mention.you", has_text="@bob")).to_be_visible(timeout=3000)
    expect(b.page.locator("#messages .mention", has_text="@charlie")).to_be_visible()


def _crowd(conversation, count):
    """`count` members who joined before anyone else, straight into the tables: what a
    big room's page cuts its member list to."""
    joined = timezone.now() - timedelta(days=1)
    users = User.objects.bulk_create(
        User(username=f"crowd{i:03}", email=f"crowd{i:03}@example.com") for i in range(count)
    )
    Membership.objects.bulk_create(
        Membership(conversation=conversation, user=user, status="approved", joined_at=joined)
        for user in users
    )


def test_at_suggests_members_beyond_the_page_s_list(people, alice, bob, make_user, group):
    off_thread(_crowd, conversation=group, count=300)
    zelda = make_user("zelda")
    off_thread(memberships.membership_add, actor=alice, conversation=group, user_id=zelda.pk)
    a = people(alice)
    a.open(f"/c/{group.pk}/")
    expect(a.page.locator("#member-list li.member", has_text="zelda")).to_have_count(0)
    a.page.click("#composer-text")
    a.page.keyboard.type("for @Zel")
    expect(a.page.locator("#mention-suggestions li")).to_have_text(["@zelda"])
    a.page.keyboard.press("Enter")
    expect(a.page.locator("#composer-text")).to_have_value("for @zelda ")


def test_search_from_the_header_opens_the_conversation_at_the_message(people, alice, bob, group):
    off_thread(
        services.message_send, sender=alice, conversation_id=group.pk, text="find the <needle> here"
    )
    for i in range(260):  # the match is a few pages back
        off_thread(
            services.message_send, sender=alice, conversation_id=group.pk, text=f"filler {i}"
        )
    b = people(bob)
    b.open("/")
    b.page.fill("#top-search", "needl")
    b.page.keyboard.press("Enter")
    result = b.page.locator("#search-results .result")
    expect(result).to_have_count(1)
    expect(result.locator("mark")).to_have_text("needle")
    expect(result.locator(".highlight")).to_have_text("find the <needle> here")
    result.locator("a").click()
    target = b.page.locator("#messages .message.target")
    expect(target).to_contain_text("find the <needle> here", timeout=5000)
    expect(target).to_be_in_viewport()


def test_typing_and_presence_between_two_people(people, alice, bob, group):
    a, b = people(alice), people(bob)
    a.open(f"/c/{group.pk}/")
    b.open(f"/c/{group.pk}/")
    dot = a.page.locator(f"#member-list li.member[data-user='{bob.pk}'] .presence")
    expect(dot).to_have_attribute("data-presence", "active")
    b.page.click("#composer-text")
    b.page.keyboard.type("thinking about it")
    expect(a.page.locator("#typing")).to_have_text("bob is typing…")
    b.page.keyboard.press("Enter")
    expect(a.page.locator("#messages .message", has_text="thinking about it")).to_be_visible()
    expect(a.page.locator("#typing")).to_have_text("")  # her message ended it
    b.page.close()  # bob's only tab: offline once the grace has passed
    expect(dot).to_have_attribute("data-presence", "offline", timeout=10_000)


def _jpeg(colour="orange", size=(300, 200)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "JPEG")
    return out.getvalue()


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (120, 80), (0, 128, 255, 200)).save(out, "PNG")
    return out.getvalue()


def _pdf() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (50, 50), "white").save(out, "PDF")
    return out.getvalue()


def _drop(page, selector, name, data: bytes, mime):
    """A file dragged from the desktop and dropped on `selector`."""
    page.evaluate(
        """([selector, name, bytes, mime]) => {
            const target = document.querySelector(selector);
            const transfer = new DataTransfer();
            transfer.items.add(new File([new Uint8Array(bytes)], name, { type: mime }));
            for (const type of ["dragenter", "dragover", "drop"]) {
                const init = { bubbles: true, cancelable: true, dataTransfer: transfer };
                target.dispatchEvent(new DragEvent(type, init));
            }
        }""",
        [selector, name, list(data), mime],
    )


def _paste(page, name, data: bytes, mime):
    page.evaluate(
        """([name, bytes, mime]) => {
            const transfer = new DataTransfer();
            transfer.items.add(new File([new Uint8Array(bytes)], name, { type: mime }));
            const init = { bubbles: true, cancelable: true, clipboardData: transfer };
            document.querySelector("#composer-text").dispatchEvent(
                new ClipboardEvent("paste", init));
        }""",
        [name, list(data), mime],
    )


def test_files_by_button_drop_and_paste_reach_the_other_person(people, alice, bob, group):
    a, b = people(alice), people(bob)
    a.open(f"/c/{group.pk}/")
    b.open(f"/c/{group.pk}/")
    a.page.set_input_files(
        "#attach-input",
        files=[{"name": "sunset.jpg", "mimeType": "image/jpeg", "buffer": _jpeg()}],
    )
    _drop(a.page, ".thread", "minutes.pdf", _pdf(), "application/pdf")
    _paste(a.page, "image.png", _png(), "image/png")
    pending = a.page.locator("#pending-files .pending-file")
    expect(pending).to_have_count(3)
    for index in range(3):
        expect(pending.nth(index)).to_have_attribute("data-state", "done")
    expect(pending.nth(0).locator("img")).to_be_visible()  # its thumbnail, from the server
    a.send("the files from today")
    expect(a.page.locator("#pending-files")).to_be_hidden()
    message = b.page.locator("#messages .message", has_text="the files from today")
    images = message.locator(".files a.file-image img")
    expect(images).to_have_count(2)
    link = message.locator(".files a.file-link")
    expect(link).to_contain_text("minutes.pdf")
    expect(link.locator(".file-size")).to_have_text(re.compile(r"^\d+(\.\d)? (bytes|KB)$"))
    # The thumbnail opens the full image over the page.
    images.first.click()
    lightbox = b.page.locator("#lightbox")
    expect(lightbox).to_be_visible()
    full = lightbox.locator("img")
    expect(full).to_have_js_property("naturalWidth", 300)
    b.page.keyboard.press("Escape")
    expect(lightbox).to_be_hidden()
    download = b.page.request.get(b.url(link.get_attribute("href")))
    assert download.status == 200
    assert download.headers["content-disposition"].startswith("attachment;")
    if os.environ.get("UI_SCREENSHOTS"):
        b.page.screenshot(path=DOCS / "screenshot-attachments.png")
    # The same after a reload: the history as the server renders it.
    b.page.reload()
    message = b.page.locator("#messages .message", has_text="the files from today")
    expect(message.locator(".files a.file-image img")).to_have_count(2)
    expect(message.locator(".files a.file-link .file-name")).to_have_text("minutes.pdf")


def test_a_file_alone_a_fake_image_and_one_too_large(people, alice, bob, group):
    a, b = people(alice), people(bob)
    a.open(f"/c/{group.pk}/")
    b.open(f"/c/{group.pk}/")
    a.page.set_input_files(
        "#attach-input",
        files=[
            {"name": "cat.png", "mimeType": "image/png", "buffer": b"not a picture at all\n"},
            {"name": "huge.bin", "mimeType": "application/octet-stream",
             "buffer": b"\0" * (25 * 1024 * 1024 + 1)},
        ],
    )  # fmt: skip
    pending = a.page.locator("#pending-files .pending-file")
    expect(pending.nth(0)).to_have_attribute("data-state", "done")
    expect(pending.nth(1)).to_have_attribute("data-state", "failed")
    expect(pending.nth(1).locator(".file-status")).to_contain_text("larger than")
    pending.nth(1).locator("button.remove").click()
    expect(pending).to_have_count(1)
    # One uploaded, then taken back: the server lets it go too.
    a.page.set_input_files(
        "#attach-input", files=[{"name": "oops.txt", "mimeType": "text/plain", "buffer": b"no"}]
    )
    expect(pending.nth(1)).to_have_attribute("data-state", "done")
    pending.nth(1).locator("button.remove").click()
    expect(pending).to_have_count(1)

    def names():
        return list(Upload.objects.order_by("id").values_list("name", flat=True))

    for _ in range(50):  # the DELETE is the page's, not awaited here
        if off_thread(names) == ["cat.png"]:
            break
        a.page.wait_for_timeout(100)
    assert off_thread(names) == ["cat.png"]
    a.page.click("#send")  # no text: the file alone
    name = b.page.locator(".file-name", has_text="cat.png")
    message = b.page.locator("#messages .message", has=name)
    expect(message).to_be_visible()
    expect(message.locator(".file-image")).to_have_count(0)  # shown as a file, not an image


def test_the_conversation_list_is_beside_every_page_and_its_own_view_on_a_phone(
    people, alice, bob, group
):
    off_thread(services.direct_message_send, sender=bob, recipient_id=alice.pk, text="hi alice")
    a, b = people(alice), people(bob)
    b.open("/")
    a.open(f"/c/{group.pk}/")
    sidebar = a.page.locator("#sidebar")
    team = sidebar.locator("li.conversation", has_text="Team")
    direct = sidebar.locator("li.conversation[data-kind=direct]")
    expect(team.locator("a")).to_have_attribute("aria-current", "page")
    expect(direct.locator(".badge.unread")).to_have_text("1")
    dot = direct.locator(".presence")
    expect(dot).to_have_attribute("data-presence", "active")
    expect(team.locator(".presence")).to_be_hidden()  # dots are for people, not groups
    # Live: another conversation counts up, the open one does not (it is being read).
    off_thread(services.direct_message_send, sender=bob, recipient_id=alice.pk, text="@alice news")
    expect(direct.locator(".badge.unread")).to_have_text("2")
    expect(direct.locator(".preview")).to_contain_text("@alice news")
    b.open(f"/c/{group.pk}/")
    b.send("for the team")
    expect(a.message("for the team")).to_be_visible()
    expect(team.locator(".badge.unread")).to_be_hidden()
    expect(sidebar.locator("li.conversation").first).to_contain_text("Team")  # newest first
    for path in ("/rooms/", "/boards/", "/search/?q=team", "/blocks/"):
        a.open(path)
        expect(a.page.locator("#sidebar li.conversation")).to_have_count(2)
    if os.environ.get("UI_SCREENSHOTS"):
        a.open(f"/c/{group.pk}/")
        a.page.screenshot(path=DOCS / "screenshot-conversation-list.png")

    a.page.set_viewport_size({"width": 390, "height": 844})  # a phone
    a.open("/")
    expect(sidebar).to_be_visible()
    expect(a.page.locator("main")).to_be_hidden()
    box = sidebar.bounding_box()
    assert box is not None
    assert box["width"] == 390  # the whole screen
    direct.locator("a").click()
    a.page.wait_for_url("**/c/*/")
    expect(a.message("hi alice")).to_be_visible()
    expect(sidebar).to_be_hidden()
    expect(a.page.locator("#composer-text")).to_be_visible()
    assert a.page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing sideways
    if os.environ.get("UI_SCREENSHOTS"):
        a.page.screenshot(path=DOCS / "screenshot-phone-conversation.png")
    a.page.click("#members-toggle")
    expect(a.page.locator("#member-list")).to_be_visible()
    a.page.keyboard.press("Escape")
    expect(a.page.locator("#member-list")).to_be_hidden()
    a.page.click("a.back")
    a.page.wait_for_url(a.url("/"))
    expect(sidebar).to_be_visible()
    if os.environ.get("UI_SCREENSHOTS"):
        a.page.screenshot(path=DOCS / "screenshot-phone-list.png")
    b.page.close()  # bob's only tab: his dot goes grey
    expect(dot).to_have_attribute("data-presence", "offline", timeout=10_000)
