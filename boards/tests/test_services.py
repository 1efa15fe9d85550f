import pytest
from django.db import IntegrityError, transaction

from boards import selectors
from boards.models import Board, BoardMessage
from boards.services import board_create, board_post, board_set_locked
from messaging_site.errors import Forbidden, Invalid, NotFound

pytestmark = pytest.mark.django_db


@pytest.fixture
def board(alice):
    return board_create(actor=alice, name="General")


@pytest.fixture
def staff(make_user):
    """A board moderator: staff, with `boards.moderate`."""
    from django.contrib.auth.models import Permission

    user = make_user("mod")
    user.is_staff = True
    user.save()
    user.user_permissions.add(
        Permission.objects.get(codename="moderate", content_type__app_label="boards")
    )
    return type(user).objects.get(pk=user.pk)


def test_board_create_trims_the_name_and_records_the_creator(alice):
    board = board_create(actor=alice, name="  Announcements  ")
    assert board.name == "Announcements"
    assert board.created_by == alice
    assert not board.locked


@pytest.mark.parametrize("name", ["general", "GENERAL", " General "])
def test_board_name_taken_in_any_case_is_invalid(alice, bob, board, name):
    with pytest.raises(Invalid) as caught:
        board_create(actor=bob, name=name)
    assert list(caught.value.fields) == ["name"]
    assert Board.objects.count() == 1


@pytest.mark.parametrize("name", ["", "   ", "n" * 101])
def test_board_name_empty_or_too_long_is_invalid_and_nothing_is_created(alice, name):
    with pytest.raises(Invalid) as caught:
        board_create(actor=alice, name=name)
    assert list(caught.value.fields) == ["name"]
    assert not Board.objects.exists()


def test_board_name_of_exactly_100_characters_is_accepted(alice):
    assert board_create(actor=alice, name="n" * 100).name == "n" * 100


def test_database_refuses_a_duplicate_board_name_in_any_case(board):
    # The constraint is what settles two creations racing past the service's check.
    with pytest.raises(IntegrityError), transaction.atomic():
        Board.objects.create(name="GENERAL")


def test_board_post_trims_topic_and_data_and_acts_as_the_actor(alice, bob, board):
    message = board_post(actor=bob, board=board, topic="  news ", data="\n hello \n")
    assert (message.topic, message.data) == ("news", "hello")
    assert message.user == bob
    assert message.board == board
    assert BoardMessage.objects.get() == message


@pytest.mark.parametrize(
    ("topic", "data", "fields"),
    [
        ("", "hello", {"topic"}),
        ("   ", "hello", {"topic"}),
        ("t" * 61, "hello", {"topic"}),
        ("news", "", {"data"}),
        ("news", " \n\t ", {"data"}),
        ("news", "d" * 10_001, {"data"}),
        ("", "", {"topic", "data"}),
    ],
    ids=[
        "topic-empty",
        "topic-whitespace",
        "topic-too-long",
        "data-empty",
        "data-whitespace",
        "data-too-long",
        "both-empty",
    ],
)
def test_bad_post_is_invalid_and_writes_nothing(alice, board, topic, data, fields):
    with pytest.raises(Invalid) as caught:
        board_post(actor=alice, board=board, topic=topic, data=data)
    assert set(caught.value.fields) == fields
    assert not BoardMessage.objects.exists()


def test_post_at_the_limits_is_accepted(alice, board):
    message = board_post(actor=alice, board=board, topic="t" * 60, data=" " + "d" * 10_000 + " ")
    assert len(message.topic) == 60
    assert len(message.data) == 10_000


def test_posting_on_a_locked_board_is_forbidden_and_writes_nothing(alice, staff, board):
    board_set_locked(actor=staff, board=board, locked=True)
    with pytest.raises(Forbidden):
        board_post(actor=alice, board=board, topic="news", data="hello")
    assert not BoardMessage.objects.exists()


def test_staff_lock_and_unlock_a_board(alice, staff, board):
    board_set_locked(actor=staff, board=board, locked=True)
    assert Board.objects.get(pk=board.pk).locked
    board_set_locked(actor=staff, board=board, locked=False)
    assert not Board.objects.get(pk=board.pk).locked
    assert board_post(actor=alice, board=board, topic="news", data="open again")


def test_non_staff_cannot_lock_a_board(alice, board):
    with pytest.raises(Forbidden):
        board_set_locked(actor=alice, board=board, locked=True)
    assert not Board.objects.get(pk=board.pk).locked


def test_board_list_is_alphabetical_ignoring_case(alice):
    for name in ["beta", "Alpha", "gamma", "Delta"]:
        board_create(actor=alice, name=name)
    assert [board.name for board in selectors.board_list()] == [
        "Alpha",
        "beta",
        "Delta",
        "gamma",
    ]


def test_board_get_counts_messages_and_unknown_is_not_found(alice, board):
    board_post(actor=alice, board=board, topic="news", data="one")
    board_post(actor=alice, board=board, topic="news", data="two")
    assert selectors.board_get(board_id=board.pk).message_count == 2
    with pytest.raises(NotFound):
        selectors.board_get(board_id=board.pk + 1000)


def test_board_messages_pages_newest_first_with_has_more(alice, board):
    ids = [board_post(actor=alice, board=board, topic="t", data=str(i)).pk for i in range(5)]
    page, has_more = selectors.board_messages(board=board, limit=3)
    assert [message.pk for message in page] == ids[::-1][:3]
    assert has_more
    page, has_more = selectors.board_messages(board=board, before=page[-1].pk, limit=3)
    assert [message.pk for message in page] == ids[::-1][3:]
    assert not has_more


def test_board_messages_filter_by_topic_and_user_and_stay_on_their_board(alice, bob, board):
    other_board = board_create(actor=bob, name="Other")
    board_post(actor=alice, board=board, topic="news", data="a")
    wanted = board_post(actor=bob, board=board, topic="news", data="b")
    board_post(actor=bob, board=board, topic="chat", data="c")
    board_post(actor=bob, board=other_board, topic="news", data="d")
    page, has_more = selectors.board_messages(board=board, topic="news", user_id=bob.pk)
    assert page == [wanted]
    assert not has_more
