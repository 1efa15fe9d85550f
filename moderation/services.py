"""Writing the audit log (docs/ARCHITECTURE.md, "Where each rule lives"): every service
that moderates calls `record` inside its own transaction."""

from django.db import transaction

from accounts.models import User

from .models import AuditEntry

__all__ = ["Action", "Right", "record"]

Action = AuditEntry.Action
Right = AuditEntry.Right


def record(
    *,
    actor: User,
    action: str,
    right: str,
    target_user_id: int | None = None,
    conversation_id: int | None = None,
    message_id: int | None = None,
    board_id: int | None = None,
    detail: str = "",
) -> AuditEntry:
    """One entry. Precondition: the act it records is in the same, open transaction."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("record() belongs inside the transaction of the act it records")
    return AuditEntry.objects.create(
        actor=actor,
        action=action,
        right=right,
        target_user_id=target_user_id,
        conversation_id=conversation_id,
        message_id=message_id,
        board_id=board_id,
        detail=detail[:200],
    )
