"""Board reads. Every signed-in user may see every board and every post."""

from django.db.models import Count, QuerySet
from django.db.models.functions import Lower

from messaging_site import text as text_rules
from messaging_site.errors import Invalid, NotFound

from .models import Board, BoardMessage


def board_list() -> QuerySet[Board]:
    """Every board, alphabetically ignoring case.

    `name_lower` is annotated so a cursor paginator can key on it: it is unique (the
    case-insensitive constraint) and served by that constraint's index.
    """
    return Board.objects.annotate(name_lower=Lower("name")).order_by("name_lower")


def board_get(*, board_id: int, with_message_count: bool = True) -> Board:
    """One board, with `message_count` unless the caller opts out. Unknown id: NotFound.

    Counting reads every post's index entry, so callers that only need the board (posting,
    reading a page of posts) pass `with_message_count=False`.
    """
    boards = Board.objects.all()
    if with_message_count:
        boards = boards.annotate(message_count=Count("messages"))
    board = boards.filter(pk=board_id).first()
    if board is None:
        raise NotFound("No such board.")
    return board


def board_messages(
    *,
    board: Board,
    topic: str | None = None,
    user_id: int | None = None,
    before: int | None = None,
    limit: int = 50,
) -> tuple[list[BoardMessage], bool]:
    """A page of the board's posts, newest first: (messages, has_more).

    Keyset paging: the next page is asked for with `before` = the last id of this one, so
    inserts never shift pages and no OFFSET scan grows with depth. Each filter combination
    has its own index. `limit` is 1..200, as the caller's query validation ensures. A
    `topic` no post could have (a NUL character...) is Invalid.
    """
    if topic is not None and (problem := text_rules.character_problem(topic)) is not None:
        raise Invalid(fields={"topic": [problem]})
    messages = BoardMessage.objects.filter(board=board)
    if topic is not None:
        messages = messages.filter(topic=topic)
    if user_id is not None:
        messages = messages.filter(user_id=user_id)
    if before is not None:
        messages = messages.filter(id__lt=before)
    # One row more than asked tells whether another page exists without a COUNT.
    page = list(messages.select_related("user").order_by("-id")[: limit + 1])
    return page[:limit], len(page) > limit


def newest_post_id(*, board_id: int) -> int:
    """The board's highest post id, 0 if it has none."""
    newest = BoardMessage.objects.filter(board_id=board_id).order_by("-id").values("id")[:1]
    return next(iter(newest), {"id": 0})["id"]


def posts_after(*, board_id: int, after_id: int, limit: int = 500) -> list[BoardMessage]:
    """The board's posts with an id above `after_id`, oldest first (a socket's catch-up)."""
    return list(
        BoardMessage.objects.filter(board_id=board_id, id__gt=after_id)
        .select_related("user")
        .order_by("id")[:limit]
    )
