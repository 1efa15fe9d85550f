"""Membership rules: who is in a conversation, in which role, and every change to that.

The states and moves of a membership (docs/ARCHITECTURE.md, "Where each rule lives").
Every change holds the conversation's row lock (the same lock sends take), which is what
makes the "last admin" rule race-free and gives each change a seq boundary for the
sockets (chat.events).
Callers pass a conversation loaded through chat.selectors; each service locks it again
and checks under the lock.
"""

from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from accounts import selectors as accounts
from accounts.models import User
from messaging_site.errors import Conflict, Forbidden, Invalid, NotFound
from moderation import services as moderation

from . import events, selectors
from .models import Conversation, Membership
from .services import conversation_create, require_not_direct, right_of

Action = moderation.Action

Kind = Conversation.Kind
Role = Membership.Role
Status = Membership.Status


def _set(
    membership: Membership,
    conversation: Conversation,
    *,
    status: str,
    role: str | None = None,
    announce: bool = True,
) -> Membership:
    """Change a membership and tell every socket concerned.

    Precondition: the caller holds `conversation`'s row lock (so its last_seq is the
    boundary between what the user may and may not receive).
    """
    if membership.status == Status.APPROVED and status != Status.APPROVED:
        events.membership_revoked(conversation, membership.user_id)
    membership.status = status
    if role is not None:
        membership.role = role
    if status == Status.APPROVED:
        membership.joined_at = timezone.now()
    membership.save(update_fields=["status", "role", "joined_at", "updated_at"])
    if announce:
        _announce(membership, conversation)
    return membership


def _membership_of(conversation: Conversation, user_id: int) -> Membership | None:
    return (
        Membership.objects.select_related("user", "conversation")
        .filter(conversation=conversation, user_id=user_id)
        .first()
    )


def _locked_for_admin(actor: User, conversation: Conversation) -> tuple[Conversation, str]:
    """The conversation locked, once it is known not to be a direct one (a kind never
    changes) and `actor` to administer it; and the right they act by (the audit log's)."""
    require_not_direct(conversation)
    conversation, as_moderator = selectors.conversation_for_admin(
        user=actor, conversation_id=conversation.pk, lock=True
    )
    return conversation, right_of(as_moderator)


def _audit(actor: User, action: str, right: str, membership: Membership, detail: str = "") -> None:
    moderation.record(
        actor=actor,
        action=action,
        right=right,
        target_user_id=membership.user_id,
        conversation_id=membership.conversation_id,
        detail=detail,
    )


def _announce(membership: Membership, conversation: Conversation) -> None:
    if membership.status == Status.PENDING:
        events.join_requested(membership)
    else:
        events.membership_changed(membership, since=conversation.last_seq)


@transaction.atomic
def membership_add(
    *, actor: User, conversation: Conversation, user_id: int
) -> tuple[Membership, bool]:
    """An admin adds a user, approved at once; returns (membership, changed).

    Adding a banned user lifts the ban: it is an admin's explicit decision. Raises what
    `conversation_for_admin` raises, Forbidden for a direct conversation, NotFound for a
    user who is not active.
    """
    conversation, right = _locked_for_admin(actor, conversation)
    user = accounts.user_get_active(user_id=user_id)
    membership = _membership_of(conversation, user.pk)
    if membership is not None and membership.status == Status.APPROVED:
        return membership, False
    if membership is None:
        membership = Membership.objects.create(
            conversation=conversation,
            user=user,
            role=Role.MEMBER,
            status=Status.APPROVED,
            joined_at=timezone.now(),
        )
        _announce(membership, conversation)
    else:
        _set(membership, conversation, status=Status.APPROVED, role=Role.MEMBER)
    _audit(actor, Action.MEMBER_ADD, right, membership)
    return membership, True


@transaction.atomic
def group_create(*, actor: User, name: str, user_ids: Iterable[int] = ()) -> Conversation:
    """A group with its creator as admin and `user_ids` added as members: all or nothing.

    Raises Invalid for the name, NotFound for an unknown or deactivated user; then no
    group exists.
    """
    conversation = conversation_create(actor=actor, kind=Kind.GROUP, name=name)
    for user_id in dict.fromkeys(user_ids):
        if user_id != actor.pk:
            membership_add(actor=actor, conversation=conversation, user_id=user_id)
    return conversation


@transaction.atomic
def membership_request(*, actor: User, conversation: Conversation) -> Membership:
    """Ask to join a room. Groups and direct conversations cannot be asked into (NotFound).

    Asking again while pending changes nothing; a member gets Conflict; a banned user
    Forbidden. A rejected, removed or departed user may ask again.
    """
    conversation = selectors.lock_conversation(conversation_id=conversation.pk)
    if conversation.kind != Kind.ROOM:
        raise NotFound("No such conversation.")
    membership = _membership_of(conversation, actor.pk)
    if membership is None:
        membership = Membership.objects.create(
            conversation=conversation, user=actor, role=Role.MEMBER, status=Status.PENDING
        )
        _announce(membership, conversation)
        return membership
    if membership.status == Status.BANNED:
        raise Forbidden("You are banned from this room.")
    if membership.status == Status.APPROVED:
        raise Conflict("You are already a member of this room.")
    if membership.status == Status.PENDING:
        _announce(membership, conversation)  # admins may have missed it; remind them
        return membership
    return _set(membership, conversation, status=Status.PENDING, role=Role.MEMBER)


def _decide(actor: User, conversation: Conversation, user_id: int, status: str) -> Membership:
    conversation, as_moderator = selectors.conversation_for_admin(
        user=actor, conversation_id=conversation.pk, lock=True
    )
    membership = _membership_of(conversation, user_id)
    if membership is None or membership.status != Status.PENDING:
        raise Conflict("There is no pending request from this user.")
    _set(membership, conversation, status=status, announce=False)
    action = Action.MEMBER_APPROVE if status == Status.APPROVED else Action.MEMBER_REJECT
    _audit(actor, action, right_of(as_moderator), membership)
    events.join_decided(membership, since=conversation.last_seq)
    return membership


@transaction.atomic
def membership_approve(*, actor: User, conversation: Conversation, user_id: int) -> Membership:
    """An admin approves a pending request. Anything but pending: Conflict."""
    return _decide(actor, conversation, user_id, Status.APPROVED)


@transaction.atomic
def membership_reject(*, actor: User, conversation: Conversation, user_id: int) -> Membership:
    """An admin rejects a pending request. Anything but pending: Conflict."""
    return _decide(actor, conversation, user_id, Status.REJECTED)


def _promote_if_adminless(conversation: Conversation) -> Membership | None:
    """Precondition: the caller holds the conversation row lock."""
    approved = Membership.objects.filter(conversation=conversation, status=Status.APPROVED)
    if approved.filter(role=Role.ADMIN).exists():
        return None
    successor = approved.order_by("joined_at", "id").first()
    if successor is None:
        return None
    successor.role = Role.ADMIN
    successor.save(update_fields=["role", "updated_at"])
    events.membership_changed(successor, since=conversation.last_seq)
    return successor


@transaction.atomic
def membership_leave(*, actor: User, conversation: Conversation) -> Membership:
    """Leave a group or room (or withdraw a pending request).

    When the last admin leaves, the longest-standing member becomes admin. A direct
    conversation cannot be left (Forbidden).
    """
    conversation = selectors.lock_conversation(conversation_id=conversation.pk)
    membership = _membership_of(conversation, actor.pk)
    if membership is None or membership.status not in (Status.APPROVED, Status.PENDING):
        if conversation.kind == Kind.ROOM:
            raise Conflict("You are not a member of this room.")
        raise NotFound("No such conversation.")
    require_not_direct(conversation)
    _set(membership, conversation, status=Status.REMOVED, role=Role.MEMBER)
    _promote_if_adminless(conversation)
    return membership


@transaction.atomic
def membership_remove(*, actor: User, conversation: Conversation, user_id: int) -> Membership:
    """An admin removes a member (or a pending request); removing yourself is leaving."""
    if user_id == actor.pk:
        return membership_leave(actor=actor, conversation=conversation)
    conversation, right = _locked_for_admin(actor, conversation)
    membership = _membership_of(conversation, user_id)
    if membership is None or membership.status not in (Status.APPROVED, Status.PENDING):
        raise NotFound("This user is not a member.")
    _set(membership, conversation, status=Status.REMOVED, role=Role.MEMBER)
    _audit(actor, Action.MEMBER_REMOVE, right, membership)
    _promote_if_adminless(conversation)
    return membership


@transaction.atomic
def membership_ban(*, actor: User, conversation: Conversation, user_id: int) -> Membership:
    """An admin bans a user (member or not): out, and never again allowed to ask."""
    if user_id == actor.pk:
        raise Invalid(fields={"user_id": ["You cannot ban yourself."]})
    conversation, right = _locked_for_admin(actor, conversation)
    membership = _membership_of(conversation, user_id)
    if membership is None:
        user = accounts.user_get(user_id=user_id)
        membership = Membership.objects.create(
            conversation=conversation, user=user, role=Role.MEMBER, status=Status.BANNED
        )
        _announce(membership, conversation)
    else:
        _set(membership, conversation, status=Status.BANNED, role=Role.MEMBER)
    _audit(actor, Action.MEMBER_BAN, right, membership)
    _promote_if_adminless(conversation)
    return membership


@transaction.atomic
def membership_set_role(
    *, actor: User, conversation: Conversation, user_id: int, role: str
) -> Membership:
    """An admin promotes or demotes an approved member. The last admin cannot be demoted."""
    if role not in (Role.ADMIN, Role.MEMBER):
        raise Invalid(fields={"role": ['Must be "admin" or "member".']})
    conversation, right = _locked_for_admin(actor, conversation)
    membership = _membership_of(conversation, user_id)
    if membership is None or membership.status != Status.APPROVED:
        raise Conflict("Only approved members have a role.")
    if membership.role == role:
        return membership
    if role == Role.MEMBER:
        admins = Membership.objects.filter(
            conversation=conversation, status=Status.APPROVED, role=Role.ADMIN
        )
        if not admins.exclude(pk=membership.pk).exists():
            raise Conflict("A conversation keeps at least one admin.")
    membership.role = role
    membership.save(update_fields=["role", "updated_at"])
    _audit(actor, Action.MEMBER_ROLE, right, membership, detail=f"to {role}")
    events.membership_changed(membership, since=conversation.last_seq)
    return membership
