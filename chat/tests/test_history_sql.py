"""History read in SQL (chat.reading): the REST page PostgreSQL renders is, byte for byte
in meaning, what MessageSerializer makes of the same page as model instances, and those
instances are what the ORM loads. A page with everything section 12 adds: replies (to a
deleted message, to a blocked sender's), reactions (one of them by a blocked user),
an edit, a tombstone, mentions, client ids, a vanished sender."""

import json

import pytest

from accounts.services import block_create
from chat import memberships, selectors, services
from chat.models import Message
from chat.serializers import MessageSerializer

pytestmark = pytest.mark.django_db


@pytest.fixture
def rich(alice, bob, charlie, make_user, group, send):
    """bob's view of a group where every kind of message is, bob blocking charlie."""
    memberships.membership_add(actor=alice, conversation=group, user_id=charlie.pk)
    dave = make_user("dave")
    memberships.membership_add(actor=alice, conversation=group, user_id=dave.pk)
    from_charlie = send(charlie, group, "charlie speaks")
    doomed = send(alice, group, "soon gone")
    root = send(alice, group, "root **bold** https://example.com", client_id="c-1")
    send(bob, group, "to charlie", reply_to=from_charlie.pk)
    send(bob, group, "to the deleted", reply_to=doomed.pk)
    reply = send(dave, group, '@bob and @alice ✓ «ünïcode» "quotes" \\ back', reply_to=root.pk)
    for actor, emoji in [(charlie, "🎉"), (alice, "👍"), (bob, "👍"), (dave, "🎉"), (bob, "❤️")]:
        services.reaction_add(
            actor=actor, conversation_id=group.pk, message_id=reply.pk, emoji=emoji
        )
    services.message_edit(
        actor=alice, conversation_id=group.pk, message_id=root.pk, text="root, edited"
    )
    services.message_delete(actor=alice, conversation_id=group.pk, message_id=doomed.pk)
    send(dave, group, "dave's last")
    block_create(blocker=bob, blocked_id=charlie.pk)
    # Users are deactivated, not deleted; should one ever be, their messages stay.
    Message.objects.filter(sender=dave).update(sender=None)
    return group


def test_the_rest_page_is_the_serializer_shape(bob, rich):
    objects, more = selectors.message_page(user=bob, conversation=rich)
    text, more_json = selectors.message_page_json(user=bob, conversation=rich)
    assert more is more_json is False
    expected = json.loads(json.dumps(MessageSerializer(objects, many=True).data))
    assert json.loads(text) == expected
    assert [m["text"] for m in expected] == [
        "",  # the tombstone
        "root, edited",
        "to charlie",
        "to the deleted",
        '@bob and @alice ✓ «ünïcode» "quotes" \\ back',
        "dave's last",
    ]  # charlie's own message is left out: bob blocks him
    by_text = {m["text"]: m for m in expected}
    assert by_text["to charlie"]["reply_to"]["excerpt"] == ""
    assert by_text["to the deleted"]["reply_to"]["excerpt"] == ""
    reply = by_text['@bob and @alice ✓ «ünïcode» "quotes" \\ back']
    assert reply["sender"] is None
    assert reply["sender_username"] == "deleted user"
    assert reply["reply_to"]["excerpt"] == "root, edited"
    # charlie's 🎉 is not counted; dave's is, first used before bob's ❤️.
    assert reply["reactions"] == [
        {"emoji": "👍", "count": 2, "me": True},
        {"emoji": "🎉", "count": 1, "me": False},
        {"emoji": "❤️", "count": 1, "me": True},
    ]


@pytest.mark.parametrize(
    "cursor",
    [{}, {"before_seq": 5}, {"after_seq": 2}, {"after_seq": 2, "before_seq": 6}, {"limit": 2},
     {"before_seq": 6, "limit": 2}, {"after_seq": 1, "limit": 2}],
)  # fmt: skip
def test_every_cursor_gives_the_same_page_both_ways(bob, rich, cursor):
    objects, more = selectors.message_page(user=bob, conversation=rich, **cursor)
    text, more_json = selectors.message_page_json(user=bob, conversation=rich, **cursor)
    assert more is more_json
    assert json.loads(text) == json.loads(json.dumps(MessageSerializer(objects, many=True).data))


def test_instances_hold_what_the_orm_loads(bob, rich):
    objects, _ = selectors.message_page(user=bob, conversation=rich)
    stored = {m.pk: m for m in Message.objects.filter(conversation=rich)}
    # The statement selects the model's fields in model order (from_db's fast path): a
    # field added to Message and not to chat.reading's SELECT fails here.
    fields = [f.attname for f in Message._meta.concrete_fields if f.name != "search_vector"]
    for message in objects:
        assert [getattr(message, f) for f in fields] == [
            getattr(stored[message.pk], f) for f in fields
        ]
