import pytest

from boards.models import Board, BoardMessage
from boards.services import board_create, board_post, board_set_locked

pytestmark = pytest.mark.django_db

BOARDS = "/api/boards/"
MESSAGE_KEYS = {"id", "topic", "data", "board", "user", "username", "created_at"}


def messages_url(board_id):
    return f"{BOARDS}{board_id}/messages/"


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


def test_create_then_list_and_detail(client_for, alice, bob):
    response = client_for(alice).post(BOARDS, {"name": "  Announcements "})
    assert response.status_code == 201
    created = response.json()
    assert set(created) == {"id", "name", "locked", "created_by", "created_at"}
    assert created["name"] == "Announcements"
    assert created["created_by"] == alice.pk
    assert created["locked"] is False

    listed = client_for(bob).get(BOARDS).json()
    assert set(listed) == {"results", "next", "previous"}
    assert listed["results"] == [created]

    detail = client_for(bob).get(f"{BOARDS}{created['id']}/")
    assert detail.status_code == 200
    assert detail.json() == {**created, "message_count": 0}


def test_detail_counts_messages(client_for, alice, bob, board):
    board_post(actor=alice, board=board, topic="news", data="one")
    board_post(actor=bob, board=board, topic="news", data="two")
    assert client_for(bob).get(f"{BOARDS}{board.pk}/").json()["message_count"] == 2


def test_list_is_alphabetical_and_pages_with_a_cursor(client_for, alice):
    for name in ["delta", "Alpha", "charlie", "Bravo", "echo"]:
        board_create(actor=alice, name=name)
    client = client_for(alice)
    first = client.get(f"{BOARDS}?limit=2").json()
    second = client.get(first["next"]).json()
    third = client.get(second["next"]).json()
    names = [row["name"] for page in (first, second, third) for row in page["results"]]
    assert names == ["Alpha", "Bravo", "charlie", "delta", "echo"]
    assert third["next"] is None


@pytest.mark.parametrize("name", ["general", "GENERAL", " General "])
def test_board_name_taken_in_any_case_is_400(client_for, bob, board, name):
    response = client_for(bob).post(BOARDS, {"name": name})
    assert response.status_code == 400
    assert list(response.json()) == ["name"]
    assert Board.objects.count() == 1


@pytest.mark.parametrize(
    "payload",
    [{"name": ""}, {"name": "   "}, {"name": "n" * 101}, {}, {"name": None}],
    ids=["empty", "whitespace", "too-long", "missing", "null"],
)
def test_bad_board_name_is_400_and_nothing_is_created(client_for, alice, payload):
    response = client_for(alice).post(BOARDS, payload, format="json")
    assert response.status_code == 400
    assert list(response.json()) == ["name"]
    assert not Board.objects.exists()


def test_post_returns_the_message_with_exact_keys(client_for, bob, board):
    response = client_for(bob).post(messages_url(board.pk), {"topic": " news ", "data": "hi "})
    assert response.status_code == 201
    body = response.json()
    assert set(body) == MESSAGE_KEYS
    message = BoardMessage.objects.get()
    assert body["id"] == message.pk
    assert (body["topic"], body["data"]) == ("news", "hi")
    assert (body["board"], body["user"], body["username"]) == (board.pk, bob.pk, "bob")


@pytest.mark.parametrize(
    ("payload", "fields"),
    [
        ({"topic": "", "data": "hello"}, {"topic"}),
        ({"topic": "   ", "data": "hello"}, {"topic"}),
        ({"topic": "t" * 61, "data": "hello"}, {"topic"}),
        ({"data": "hello"}, {"topic"}),
        ({"topic": "news", "data": ""}, {"data"}),
        ({"topic": "news", "data": "  \n "}, {"data"}),
        ({"topic": "news", "data": "d" * 10_001}, {"data"}),
        ({"topic": "news"}, {"data"}),
        ({"topic": ["news"], "data": {"x": 1}}, {"topic", "data"}),
    ],
    ids=[
        "topic-empty",
        "topic-whitespace",
        "topic-too-long",
        "topic-missing",
        "data-empty",
        "data-whitespace",
        "data-too-long",
        "data-missing",
        "wrong-types",
    ],
)
def test_bad_post_is_400_with_field_errors_and_writes_nothing(
    client_for, alice, board, payload, fields
):
    response = client_for(alice).post(messages_url(board.pk), payload, format="json")
    assert response.status_code == 400
    assert set(response.json()) == fields
    assert not BoardMessage.objects.exists()


def test_posting_on_a_locked_board_is_403_and_writes_nothing(client_for, alice, staff, board):
    board_set_locked(actor=staff, board=board, locked=True)
    response = client_for(alice).post(messages_url(board.pk), {"topic": "news", "data": "hi"})
    assert response.status_code == 403
    assert response.json()["detail"] == "This board is locked."
    assert not BoardMessage.objects.exists()
    assert client_for(alice).get(f"{BOARDS}{board.pk}/").json()["locked"] is True


def test_user_board_and_id_in_the_body_are_ignored(client_for, alice, bob, board):
    other_board = board_create(actor=bob, name="Other")
    response = client_for(alice).post(
        messages_url(board.pk),
        {"topic": "news", "data": "hi", "user": bob.pk, "board": other_board.pk, "id": 424242},
    )
    assert response.status_code == 201
    message = BoardMessage.objects.get()
    assert (message.user, message.board) == (alice, board)
    assert message.pk != 424242
    assert response.json()["user"] == alice.pk


def test_messages_are_newest_first(client_for, alice, bob, board):
    ids = [
        board_post(actor=author, board=board, topic="t", data=str(i)).pk
        for i, author in enumerate([alice, bob, alice])
    ]
    body = client_for(bob).get(messages_url(board.pk)).json()
    assert [row["id"] for row in body["results"]] == ids[::-1]
    assert body["next"] is None
    assert body["previous"] is None
    assert set(body["results"][0]) == MESSAGE_KEYS


def test_messages_filter_by_topic_and_by_user(client_for, alice, bob, board):
    news_by_alice = board_post(actor=alice, board=board, topic="news", data="a").pk
    chat_by_bob = board_post(actor=bob, board=board, topic="chat", data="b").pk
    news_by_bob = board_post(actor=bob, board=board, topic="news", data="c").pk
    client = client_for(alice)

    def ids(query):
        response = client.get(f"{messages_url(board.pk)}?{query}")
        assert response.status_code == 200
        return [row["id"] for row in response.json()["results"]]

    assert ids("topic=news") == [news_by_bob, news_by_alice]
    assert ids(f"user={bob.pk}") == [news_by_bob, chat_by_bob]
    assert ids(f"topic=news&user={bob.pk}") == [news_by_bob]
    assert ids("topic=") == [news_by_bob, chat_by_bob, news_by_alice]
    assert ids("topic=nothing") == []


def test_messages_of_another_board_never_show(client_for, alice, board):
    other_board = board_create(actor=alice, name="Other")
    board_post(actor=alice, board=other_board, topic="t", data="elsewhere")
    assert client_for(alice).get(messages_url(board.pk)).json()["results"] == []


def test_keyset_paging_with_before_returns_every_message_once(client_for, alice, bob, board):
    ids = [board_post(actor=alice, board=board, topic="t", data=str(i)).pk for i in range(7)]
    client = client_for(bob)
    pages, before = [], None
    for _ in range(3):
        query = "limit=3" + (f"&before={before}" if before else "")
        page = [
            row["id"] for row in client.get(f"{messages_url(board.pk)}?{query}").json()["results"]
        ]
        pages.append(page)
        before = page[-1]
    assert [len(page) for page in pages] == [3, 3, 1]
    seen = [message_id for page in pages for message_id in page]
    assert seen == sorted(ids, reverse=True)


def test_next_link_keeps_the_filters_and_reaches_the_end(client_for, alice, bob, board):
    wanted = [board_post(actor=bob, board=board, topic="news", data=str(i)).pk for i in range(5)]
    board_post(actor=alice, board=board, topic="news", data="not bob")
    board_post(actor=bob, board=board, topic="chat", data="not news")
    client = client_for(alice)
    url = f"{messages_url(board.pk)}?topic=news&user={bob.pk}&limit=2"
    seen, pages = [], 0
    while url:
        body = client.get(url).json()
        seen += [row["id"] for row in body["results"]]
        assert body["previous"] is None
        url = body["next"]
        pages += 1
        if url:
            assert url.startswith("http://testserver/api/boards/")
            assert f"user={bob.pk}" in url
            assert "topic=news" in url
            assert "limit=2" in url
    assert pages == 3
    assert seen == wanted[::-1]


def test_limit_defaults_to_50(client_for, alice, board):
    BoardMessage.objects.bulk_create(
        BoardMessage(board=board, user=alice, topic="t", data=str(i)) for i in range(51)
    )
    body = client_for(alice).get(messages_url(board.pk)).json()
    assert len(body["results"]) == 50
    assert body["next"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("user=abc", "user"),
        ("user=0", "user"),
        ("before=abc", "before"),
        ("before=1.5", "before"),
        ("before=99999999999999999999", "before"),
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("limit=many", "limit"),
        ("topic=" + "t" * 61, "topic"),
    ],
)
def test_bad_query_parameters_are_400_with_field_errors(client_for, alice, board, query, field):
    response = client_for(alice).get(f"{messages_url(board.pk)}?{query}")
    assert response.status_code == 400
    assert list(response.json()) == [field]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/boards/987654/"),
        ("get", "/api/boards/987654/messages/"),
        ("post", "/api/boards/987654/messages/"),
        ("get", "/api/boards/abc/"),
    ],
)
def test_unknown_board_is_404(client_for, alice, board, method, path):
    response = getattr(client_for(alice), method)(path, {"topic": "news", "data": "hi"})
    assert response.status_code == 404
    assert not BoardMessage.objects.exists()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", BOARDS),
        ("post", BOARDS),
        ("get", "{board}"),
        ("get", "{board}messages/"),
        ("post", "{board}messages/"),
    ],
)
def test_anonymous_is_401(api, board, method, path):
    url = path.format(board=f"{BOARDS}{board.pk}/")
    response = getattr(api, method)(url, {"name": "x", "topic": "t", "data": "d"})
    assert response.status_code == 401
    assert Board.objects.count() == 1
    assert not BoardMessage.objects.exists()


def test_message_page_costs_the_same_queries_for_3_and_30(
    client_for, make_user, alice, board, django_assert_num_queries
):
    authors = [alice, *(make_user(f"author{i}") for i in range(4))]

    def post(count):
        for i in range(count):
            board_post(actor=authors[i % len(authors)], board=board, topic="t", data=str(i))

    client = client_for(alice)
    post(3)
    # auth (token with its user), the board, the page with its authors
    with django_assert_num_queries(3):
        assert len(client.get(messages_url(board.pk)).json()["results"]) == 3
    post(27)
    with django_assert_num_queries(3):
        assert len(client.get(messages_url(board.pk)).json()["results"]) == 30


def test_board_list_costs_the_same_queries_for_3_and_30(
    client_for, alice, django_assert_num_queries
):
    def create(start, stop):
        for i in range(start, stop):
            board_create(actor=alice, name=f"board {i:02}")

    client = client_for(alice)
    create(0, 3)
    # auth (token with its user), the page
    with django_assert_num_queries(2):
        assert len(client.get(BOARDS).json()["results"]) == 3
    create(3, 30)
    with django_assert_num_queries(2):
        assert len(client.get(BOARDS).json()["results"]) == 30
