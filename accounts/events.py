"""What the accounts app tells open sockets (docs/PROTOCOL.md): a user's deactivation
closes their sockets, and a block changes what their sockets show."""

from messaging_site.realtime import publish_on_commit, user_group


def block_changed(*, blocker_id: int, blocked_id: int, blocking: bool) -> None:
    """After commit, and before the caller goes on: the blocker's sockets start or stop
    hiding the other's messages (chat.relay.relay_block) before anything the blocker does
    next is published."""
    publish_on_commit(
        [
            (
                user_group(blocker_id),
                {"type": "accounts.block", "user": blocked_id, "blocking": blocking},
            )
        ],
        wait=True,
    )


def users_deactivated(user_ids: list[int]) -> None:
    """After commit: every socket of these users closes (messaging_site.consumers)."""
    publish_on_commit((user_group(pk), {"type": "session.close"}) for pk in user_ids)


def signed_out(user_id: int, *, only: str | None = None) -> None:
    """After commit: the user's sockets close, or with `only`, those authenticated that
    way ("token": a revoked token's; "session")."""
    event = {"type": "session.close"} if only is None else {"type": "session.close", "only": only}
    publish_on_commit([(user_group(user_id), event)])
