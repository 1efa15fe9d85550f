"""SPEC section 13, search: what matches, what the caller may read, filters, highlights,
pages, bad input."""

import base64
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.services import block_create
from chat import memberships, search, services
from chat.models import SEARCH_VECTOR_SQL, Message

pytestmark = pytest.mark.django_db
URL = "/api/search/"


def found(client, q, **params):
    response = client.get(URL, {"q": q, **params})
    assert response.status_code == 200, response.content
    return response.json()


def texts(body):
    return [item["message"]["text"] for item in body["results"]]


@pytest.fixture(params=[20_000, 1], ids=["newest-rows", "index"])
def branch(request, monkeypatch):
    """Each test runs through both ways a page is found: the newest rows walked (all of a
    test's messages are within them) and the index below them (none are)."""
    monkeypatch.setattr(search, "WINDOW", request.param)


def test_words_match_stemmed_and_the_last_as_a_prefix(client_for, alice, bob, group, send, branch):
    send(alice, group, "The meetings moved to Friday")
    send(alice, group, "deploying tonight")
    send(alice, group, "nothing here")
    client = client_for(bob)
    assert texts(found(client, "meeting")) == ["The meetings moved to Friday"]
    assert texts(found(client, "MEETING fri")) == ["The meetings moved to Friday"]
    assert texts(found(client, "depl")) == ["deploying tonight"]  # typed so far
    assert texts(found(client, "deployed")) == ["deploying tonight"]  # one stem
    assert texts(found(client, "meeting tonight")) == []  # every word must match
    assert texts(found(client, "zebra")) == []
    send(alice, group, "wrap it in <section> tags")
    assert texts(found(client, "section")) == ["wrap it in <section> tags"]


def test_only_what_the_caller_may_read_now(
    client_for, alice, bob, charlie, make_user, group, room, send, branch
):
    dave = make_user("dave")
    memberships.membership_add(actor=alice, conversation=group, user_id=charlie.pk)
    send(alice, group, "budget in the group")
    send(charlie, group, "budget from charlie")
    gone = send(alice, group, "budget soon deleted")
    services.message_delete(actor=alice, conversation_id=group.pk, message_id=gone.pk)
    send(alice, room, "budget in the room")
    other = services.conversation_create(actor=dave, kind="group", name="Elsewhere")
    send(dave, other, "budget elsewhere")
    block_create(blocker=bob, blocked_id=charlie.pk)
    assert texts(found(client_for(bob), "budget")) == ["budget in the room", "budget in the group"]
    memberships.membership_remove(actor=alice, conversation=group, user_id=bob.pk)
    assert texts(found(client_for(bob), "budget")) == ["budget in the room"]
    assert texts(found(client_for(dave), "budget")) == ["budget elsewhere"]


def test_an_edit_is_found_by_its_new_words_at_once(client_for, alice, bob, group, send, branch):
    message = send(alice, group, "see you at lunch")
    services.message_edit(
        actor=alice, conversation_id=group.pk, message_id=message.pk, text="see you at dinner"
    )
    client = client_for(bob)
    assert texts(found(client, "lunch")) == []
    assert texts(found(client, "dinner")) == ["see you at dinner"]


def test_newest_first_a_page_at_a_time_each_once(client_for, alice, bob, group, room, send, branch):
    for i in range(7):
        send(alice, group if i % 2 else room, f"standup note {i}")
    client = client_for(bob)
    seen, body = [], found(client, "standup", limit=3)
    while True:
        seen += texts(body)
        assert body["previous"] is None
        if body["next"] is None:
            break
        body = client.get(body["next"]).json()
    assert seen == [f"standup note {i}" for i in reversed(range(7))]


def test_each_result_has_its_conversation_and_an_escaped_highlight(
    client_for, alice, bob, group, send, branch
):
    send(alice, group, '<b>deploy</b> & "ship" \ue000it\ue001 <script>x</script>')
    direct, _ = services.direct_message_send(sender=alice, recipient_id=bob.pk, text="deploy it")
    body = found(client_for(bob), "deploy")
    first, second = body["results"]
    assert first["conversation"] == {
        "id": direct.conversation_id,
        "kind": "direct",
        "name": "",
        "peer": {"id": alice.pk, "username": "alice", "name": "Alice"},
    }
    assert first["message"]["id"] == direct.pk
    assert first["highlight"] == "<mark>deploy</mark> it"
    assert second["conversation"]["name"] == "Team"
    assert second["conversation"]["peer"] is None
    assert second["highlight"] == (
        "&lt;b&gt;<mark>deploy</mark>&lt;/b&gt; &amp; &quot;ship&quot; it "
        "&lt;script&gt;x&lt;/script&gt;"
    )
    assert second["message"]["html"].startswith("<p>&lt;b&gt;deploy")  # the message as ever


def test_filters(client_for, alice, bob, group, room, send, branch):
    send(alice, group, "report one")
    send(bob, group, "report two")
    send(alice, room, "report three")
    client = client_for(bob)
    assert texts(found(client, "report", conversation=group.pk)) == ["report two", "report one"]
    assert texts(found(client, "report", sender=alice.pk)) == ["report three", "report one"]
    Message.objects.filter(text="report one").update(created_at="2026-01-01T00:00:00Z")
    assert texts(found(client, "report", before="2026-06-01T00:00:00Z")) == ["report one"]
    assert texts(found(client, "report", after="2026-06-01")) == ["report three", "report two"]


def test_a_conversation_the_caller_does_not_read(client_for, alice, charlie, group, room):
    client = client_for(charlie)
    assert client.get(URL, {"q": "x", "conversation": group.pk}).status_code == 404
    assert client.get(URL, {"q": "x", "conversation": room.pk}).status_code == 403
    assert client.get(URL, {"q": "x", "conversation": 10**9}).status_code == 404


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "q"),
        ({"q": "   "}, "q"),
        ({"q": "x" * 201}, "q"),
        ({"q": "!!! ???"}, "q"),
        ({"q": "ok", "before": "yesterday"}, "before"),
        ({"q": "ok", "after": "2026-13-01"}, "after"),
        ({"q": "ok", "sender": "-1"}, "sender"),
        ({"q": "ok", "conversation": "x"}, "conversation"),
        ({"q": "ok", "limit": "0"}, "limit"),
    ],
)
def test_bad_input_is_400_naming_the_field(client_for, bob, params, field):
    response = client_for(bob).get(URL, params)
    assert response.status_code == 400
    assert field in response.json()


@pytest.mark.parametrize("cursor", ["nope", base64.urlsafe_b64encode(b'["1"]').decode(), "WzBd"])
def test_a_bad_cursor_is_404(client_for, bob, cursor):
    assert client_for(bob).get(URL, {"q": "ok", "cursor": cursor}).status_code == 404


def test_query_count_is_the_same_for_any_page(client_for, alice, bob, group, room, send):
    client = client_for(bob)
    send(alice, group, "lunch?")
    with CaptureQueriesContext(connection) as one:
        assert len(found(client, "lunch")["results"]) == 1
    for i in range(30):
        send(alice, group if i % 2 else room, f"lunch {i}", reply_to=None)
    with CaptureQueriesContext(connection) as many:
        assert len(found(client, "lunch")["results"]) == 20
    assert len(one.captured_queries) == len(many.captured_queries) == 2  # token, search


def test_the_schema_names_the_endpoint(api):
    schema = api.get("/api/schema/?format=json").json()
    parameters = {p["name"] for p in schema["paths"]["/api/search/"]["get"]["parameters"]}
    assert {"q", "conversation", "sender", "before", "after", "cursor", "limit"} <= parameters
    assert json.dumps(schema).count("highlight") >= 1


def test_the_stored_vector_is_the_one_the_model_names(alice, group, send):
    """The trigger of migration 0010 and chat.models.SEARCH_VECTOR_SQL agree."""
    message = send(alice, group, "Meetings <b>moved</b> to Friday, @bob")
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT search_vector = ({SEARCH_VECTOR_SQL.format('text')}) FROM chat_message "  # noqa: S608
            "WHERE id = %s",
            [message.pk],
        )
        assert cursor.fetchone() == (True,)


def test_a_filter_given_empty_is_refused(client_for, bob):
    for name in ("conversation", "sender", "before", "after"):
        response = client_for(bob).get(URL, {"q": "x", name: ""})
        assert response.status_code == 400, name
        assert name in response.json()
