import pytest

from boards.models import Board, BoardMessage
from boards.services import board_create, board_post

pytestmark = pytest.mark.django_db


@pytest.fixture
def board(alice):
    return board_create(actor=alice, name="General")


@pytest.mark.parametrize(
    "path",
    [
        "/admin/boards/board/",
        "/admin/boards/board/?q=gen&locked__exact=0",
        "/admin/boards/boardmessage/",
        "/admin/boards/boardmessage/?q=alice",
        "/admin/boards/boardmessage/?q=hello",
    ],
)
def test_admin_lists_search_and_filter(moderator, alice, board, path):
    board_post(actor=alice, board=board, topic="news", data="hello moderators")
    response = moderator.get(path)
    assert response.status_code == 200
    assert b"General" in response.content


def test_message_filter_by_board(moderator, alice, board):
    other_board = board_create(actor=alice, name="Other")
    board_post(actor=alice, board=board, topic="in-general", data="a")
    board_post(actor=alice, board=other_board, topic="in-other", data="b")
    response = moderator.get(f"/admin/boards/boardmessage/?board__id__exact={other_board.pk}")
    assert response.status_code == 200
    assert b"in-other" in response.content
    assert b"in-general" not in response.content


def test_message_changelist_does_not_query_per_row(
    moderator, make_user, alice, board, django_assert_max_num_queries
):
    for i in range(20):
        board_post(actor=make_user(f"u{i}"), board=board, topic="t", data=str(i))
    with django_assert_max_num_queries(12):
        assert moderator.get("/admin/boards/boardmessage/").status_code == 200


def test_lock_and_unlock_actions(moderator, alice, board):
    other_board = board_create(actor=alice, name="Other")
    untouched = board_create(actor=alice, name="Untouched")
    selected = [board.pk, other_board.pk]

    response = moderator.post(
        "/admin/boards/board/",
        {"action": "lock_boards", "_selected_action": selected},
        follow=True,
    )
    assert response.status_code == 200
    assert b"Locked 2 board(s)." in response.content
    assert set(Board.objects.filter(locked=True).values_list("pk", flat=True)) == set(selected)

    response = moderator.post(
        "/admin/boards/board/",
        {"action": "unlock_boards", "_selected_action": [board.pk]},
        follow=True,
    )
    assert b"Unlocked 1 board(s)." in response.content
    assert list(Board.objects.filter(locked=True).values_list("pk", flat=True)) == [other_board.pk]
    untouched.refresh_from_db()
    assert not untouched.locked


def test_moderator_deletes_posts(moderator, alice, board):
    doomed = board_post(actor=alice, board=board, topic="spam", data="buy now")
    kept = board_post(actor=alice, board=board, topic="news", data="hello")
    response = moderator.post(
        "/admin/boards/boardmessage/",
        {"action": "delete_selected", "_selected_action": [doomed.pk], "post": "yes"},
        follow=True,
    )
    assert response.status_code == 200
    assert list(BoardMessage.objects.all()) == [kept]


def test_posts_are_not_added_through_the_admin(moderator):
    assert moderator.get("/admin/boards/boardmessage/add/").status_code == 403


def test_board_added_in_admin_records_its_creator_and_starts_unlocked(moderator):
    response = moderator.post("/admin/boards/board/add/", {"name": "From admin"})
    assert response.status_code == 302
    board = Board.objects.get(name="From admin")
    assert board.created_by.username == "mod"
    assert not board.locked


def test_admin_refuses_a_board_name_taken_in_another_case(moderator, board):
    response = moderator.post("/admin/boards/board/add/", {"name": "GENERAL"})
    assert response.status_code == 200
    assert b"A board with that name already exists." in response.content
    assert Board.objects.count() == 1


def test_board_changelist_does_not_query_per_row(
    moderator, make_user, django_assert_max_num_queries
):
    for i in range(20):
        board_create(actor=make_user(f"u{i}"), name=f"board {i}")
    with django_assert_max_num_queries(12):
        assert moderator.get("/admin/boards/board/").status_code == 200
