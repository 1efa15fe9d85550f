"""Board rules: creating boards, posting, locking. REST, WebSocket and admin call these."""

from django.db import IntegrityError, transaction

from accounts.models import User
from messaging_site import text as text_rules
from messaging_site.errors import Forbidden, Invalid
from moderation import services as moderation

from . import events
from .models import BOARD_NAME_MAX_LENGTH, DATA_MAX_LENGTH, TOPIC_MAX_LENGTH, Board, BoardMessage

NAME_TAKEN = "A board with that name already exists."


def board_create(*, actor: User, name: str) -> Board:
    """Create a board named `name` (trimmed), made by `actor`.

    Raises Invalid (field `name`) when the name is empty, over 100 characters, or taken by
    another board in any case. Nothing is written then.
    """
    name = name.strip()
    errors = text_rules.length_errors(name, max_length=BOARD_NAME_MAX_LENGTH)
    if not errors and Board.objects.filter(name__iexact=name).exists():
        errors = [NAME_TAKEN]
    if errors:
        raise Invalid(fields={"name": errors})
    try:
        with transaction.atomic():
            return Board.objects.create(name=name, created_by=actor)
    except IntegrityError as exc:
        # Two creations raced past the check above; the constraint decided.
        raise Invalid(fields={"name": [NAME_TAKEN]}) from exc


def board_post(*, actor: User, board: Board, topic: str, data: str) -> BoardMessage:
    """Post a message on `board` as `actor`; `topic` and `data` are trimmed.

    Raises Invalid (fields `topic`, `data`) when the topic is not 1..60 characters or the
    data not 1..10,000; Forbidden when the board is locked. Nothing is written then.
    Once the post commits, the board's subscribers get it live.
    """
    topic = topic.strip()
    data = data.strip()
    errors = {
        field: messages
        for field, messages in (
            ("topic", text_rules.length_errors(topic, max_length=TOPIC_MAX_LENGTH)),
            ("data", text_rules.length_errors(data, max_length=DATA_MAX_LENGTH)),
        )
        if messages
    }
    if errors:
        raise Invalid(fields=errors)
    with transaction.atomic():
        # The database says whether it is locked, not the caller's copy of the board.
        if Board.objects.filter(pk=board.pk, locked=True).exists():
            # The default code: docs/PROTOCOL.md fixes the WebSocket error codes, and
            # "locked" is not one of them; the message tells people why.
            raise Forbidden("This board is locked.")
        message = BoardMessage.objects.create(board=board, user=actor, topic=topic, data=data)
        events.posted(message)
    return message


def board_set_locked(*, actor: User, board: Board, locked: bool) -> Board:
    """Lock or unlock a board; a locked board refuses new posts and keeps its history.
    Returns the board as it now is.

    Raises Forbidden unless `actor` holds `boards.moderate`; each change goes to the audit
    log.
    """
    if not actor.has_perm("boards.moderate"):
        raise Forbidden("Only moderators lock and unlock boards.")
    with transaction.atomic():
        if Board.objects.filter(pk=board.pk).exclude(locked=locked).update(locked=locked):
            moderation.record(
                actor=actor,
                action=moderation.Action.BOARD_LOCK if locked else moderation.Action.BOARD_UNLOCK,
                right=moderation.Right.SITE_MODERATOR,
                board_id=board.pk,
            )
    return Board.objects.get(pk=board.pk)
