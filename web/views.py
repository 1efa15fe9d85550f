"""The web UI (README, "The web UI"): server-rendered pages over the same selectors and services
as REST and the WebSocket. Thin: read a form, call a service, render or redirect.

Forms post here and work without JavaScript. static/js/ enhances the ones marked
`data-live`: it posts them with fetch, and the page then changes through the WebSocket
frames every member gets, the way it changes when someone else acts. Such a request is
answered with JSON instead of a redirect (see `_done`).
"""

import json

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import BadRequest
from django.http import Http404, HttpResponseRedirect, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from accounts import selectors as account_selectors
from accounts import services as account_services
from accounts.tokens import tokens_of
from boards import selectors as board_selectors
from boards import services as board_services
from chat import memberships, presence, search, selectors, services
from chat.models import Conversation, Membership
from chat.serializers import MessageSerializer
from messaging_site.errors import DomainError, Forbidden, Invalid, NotFound

from .forms import (
    BoardCreateForm,
    ConversationCreateForm,
    DirectMessageForm,
    LoginForm,
    PostForm,
    SignupForm,
    UsernameForm,
)

PAGE = 50
# A big room's page lists this many members (and pending requests); the count stays exact.
MEMBERS_SHOWN = 300


def _is_fetch(request) -> bool:
    return request.headers.get("X-Requested-With") == "fetch"


def _done(request, url: str, note: str | None = None):
    if _is_fetch(request):
        return JsonResponse({"ok": True, "message": note})
    if note:
        messages.success(request, note)
    return HttpResponseRedirect(url)


def _refused(request, error: DomainError, url: str):
    """A domain error on a form that has no fields to show it on."""
    if isinstance(error, NotFound) and not _is_fetch(request):
        raise Http404(error.message)
    if _is_fetch(request):
        return JsonResponse(
            {"ok": False, "code": error.code, "message": error.message},
            status=error.status_code,
        )
    messages.error(request, error.message)
    return HttpResponseRedirect(url)


def _apply_errors(form, error: Invalid) -> None:
    """A service's field errors onto the form; those for fields it lacks go on top."""
    if not error.fields:
        form.add_error(None, error.message)
    for name, errors in error.fields.items():
        for text in errors:
            form.add_error(name if name in form.fields else None, text)


def _user_named(username: str):
    user = account_selectors.user_get_by_username(username=username)
    if user is None:
        raise Invalid(fields={"username": [f"Nobody is called “{username.strip()}”."]})
    return user


# --- accounts -----------------------------------------------------------------------------


class LoginView(auth_views.LoginView):
    template_name = "web/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True


class LogoutView(auth_views.LogoutView):
    """Logging out changes state, so it takes a POST (every page's header has the button);
    a GET, from a typed or bookmarked /logout/, asks to confirm rather than answering 405."""

    http_method_names = ["get", "post", "options"]

    def get(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect("web:login")
        return render(request, "web/logout.html")


def signup(request):
    if request.user.is_authenticated:
        return redirect("web:home")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = account_services.user_register(**form.cleaned_data)
        except Invalid as error:
            _apply_errors(form, error)
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            return redirect("web:home")
    return render(request, "web/signup.html", {"form": form})


# --- home, inbox --------------------------------------------------------------------------


@login_required
def home(request):
    """The conversation list is every page's (web.context_processors, templates/base.html);
    on a phone it is this page."""
    return render(request, "web/home.html", {"page_data": _me(request), "nav": "home"})


def _me(request, **extra) -> dict:
    return {"me": {"id": request.user.pk, "username": request.user.username}, **extra}


# --- conversations ------------------------------------------------------------------------


@login_required
def conversation(request, conversation_id: int):
    try:
        conversation, membership = selectors.conversation_for_reader(
            user=request.user, conversation_id=conversation_id
        )
    except NotFound:
        raise Http404("No such conversation.") from None
    except Forbidden:
        # A room's non-member: rooms are public by name, so offer to ask to join.
        room = selectors.conversation_detail(user=request.user, conversation_id=conversation_id)
        return render(request, "web/room_preview.html", {"room": room})

    page, has_more = selectors.message_page(user=request.user, conversation=conversation)
    visible = selectors.members_visible_to(membership=membership)
    members = list(visible.order_by("joined_at")[:MEMBERS_SHOWN])
    approved = [m for m in members if m.status == Membership.Status.APPROVED]
    member_count = (
        len(approved)
        if len(members) < MEMBERS_SHOWN
        else visible.filter(status=Membership.Status.APPROVED).count()
    )
    pending = [m for m in members if m.status == Membership.Status.PENDING]
    seen = presence.of_members(viewer_id=request.user.pk, members=approved)
    for member in approved:
        member.presence = seen[member.user_id].status
    peer = next((m.user for m in approved if m.user_id != request.user.pk), None)
    title = (
        (peer.name or peer.username)
        if conversation.kind == Conversation.Kind.DIRECT and peer
        else conversation.name
    )
    last_seq = max([conversation.last_seq, *(m.seq for m in page)])
    data = _me(
        request,
        conversationId=conversation.pk,
        kind=conversation.kind,
        role=membership.role,
        lastSeq=last_seq,
        readSeq=membership.read_seq,
        hasMore=has_more,
        # The member list shows the first MEMBERS_SHOWN: @ suggestions ask the API for more.
        membersCut=len(approved) < member_count,
        firstSeq=page[0].seq if page else last_seq + 1,
        # Others' cursors, for the ticks on one's own messages (receipts update them); a
        # message counts only the members who were there when it was sent.
        cursors={
            m.user_id: {
                "delivered": m.delivered_seq,
                "read": m.read_seq,
                "joined": int(m.joined_at.timestamp() * 1000) if m.joined_at else 0,
            }
            for m in approved
            if m.user_id != request.user.pk
        },
        messages=MessageSerializer(page, many=True).data,
    )
    return render(
        request,
        "web/conversation.html",
        {
            "conversation": conversation,
            "membership": membership,
            "is_admin": membership.role == Membership.Role.ADMIN,
            "title": title,
            "peer": peer,
            "approved": approved,
            "member_count": member_count,
            "members_cut": len(approved) < member_count,
            "pending": pending,
            "page_data": data,
            "nav": "home",
            "upload_max_bytes": settings.UPLOAD_MAX_BYTES,
        },
    )


@login_required
@require_POST
def message_send(request, conversation_id: int):
    """The composer without JavaScript (with it, messages go over the WebSocket)."""
    conversation = _conversation_or_404(request, conversation_id)
    back = reverse("web:conversation", args=[conversation.pk])
    try:
        services.message_send(
            sender=request.user,
            conversation_id=conversation.pk,
            text=request.POST.get("text", ""),
        )
    except DomainError as error:
        return _refused(request, error, back)
    return _done(request, back)


@login_required
def conversation_new(request):
    form = ConversationCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            people = [_user_named(name) for name in data["members"].replace(",", " ").split()]
            if data["kind"] == Conversation.Kind.GROUP:
                conversation = memberships.group_create(
                    actor=request.user, name=data["name"], user_ids=[p.pk for p in people]
                )
            elif people:
                raise Invalid(fields={"members": ["People are added directly to groups only."]})
            else:
                conversation = services.conversation_create(
                    actor=request.user, kind=data["kind"], name=data["name"]
                )
        except Invalid as error:
            _apply_errors(form, error)
        except NotFound as error:
            form.add_error("members", error.message)
        else:
            return redirect("web:conversation", conversation.pk)
    return render(request, "web/conversation_new.html", {"form": form})


@login_required
def direct(request):
    initial = {"username": request.GET.get("to", "")}
    form = DirectMessageForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            other = _user_named(form.cleaned_data["username"])
            message, _ = services.direct_message_send(
                sender=request.user, recipient_id=other.pk, text=form.cleaned_data["text"]
            )
        except Invalid as error:
            _apply_errors(form, error)
        except (Forbidden, NotFound) as error:
            form.add_error(None, error.message)
        else:
            return redirect("web:conversation", message.conversation_id)
    return render(request, "web/direct.html", {"form": form})


def _conversation_or_404(request, conversation_id: int) -> Conversation:
    try:
        return selectors.conversation_for_viewer(user=request.user, conversation_id=conversation_id)
    except NotFound:
        raise Http404("No such conversation.") from None


@login_required
@require_POST
def member_add(request, conversation_id: int):
    conversation = _conversation_or_404(request, conversation_id)
    back = reverse("web:conversation", args=[conversation.pk])
    form = UsernameForm(request.POST)
    try:
        if not form.is_valid():
            raise Invalid("Give a username.")
        person = _user_named(form.cleaned_data["username"])
        memberships.membership_add(actor=request.user, conversation=conversation, user_id=person.pk)
    except DomainError as error:
        return _refused(request, error, back)
    return _done(request, back, f"{person.username} was added.")


MEMBER_ACTIONS = {
    "approve": (memberships.membership_approve, "approved"),
    "reject": (memberships.membership_reject, "turned down"),
    "remove": (memberships.membership_remove, "removed"),
    "ban": (memberships.membership_ban, "banned"),
}


@login_required
@require_POST
def member_action(request, conversation_id: int, user_id: int, action: str):
    conversation = _conversation_or_404(request, conversation_id)
    back = reverse("web:conversation", args=[conversation.pk])
    try:
        if action in MEMBER_ACTIONS:
            service, done = MEMBER_ACTIONS[action]
            membership = service(actor=request.user, conversation=conversation, user_id=user_id)
        elif action in ("promote", "demote"):
            role = Membership.Role.ADMIN if action == "promote" else Membership.Role.MEMBER
            membership = memberships.membership_set_role(
                actor=request.user, conversation=conversation, user_id=user_id, role=role
            )
            done = "made an admin" if action == "promote" else "made a member"
        else:
            raise Http404("No such action.")
    except DomainError as error:
        return _refused(request, error, back)
    return _done(request, back, f"{membership.user.username} was {done}.")


@login_required
@require_POST
def leave(request, conversation_id: int):
    conversation = _conversation_or_404(request, conversation_id)
    try:
        memberships.membership_leave(actor=request.user, conversation=conversation)
    except DomainError as error:
        return _refused(request, error, reverse("web:conversation", args=[conversation.pk]))
    return _done(request, reverse("web:home"), f"You left {conversation.name}.")


@login_required
@require_POST
def join(request, conversation_id: int):
    conversation = _conversation_or_404(request, conversation_id)
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        back = reverse("web:rooms")
    try:
        membership = memberships.membership_request(actor=request.user, conversation=conversation)
    except DomainError as error:
        return _refused(request, error, back)
    if membership.status == Membership.Status.APPROVED:
        return _done(request, reverse("web:conversation", args=[conversation.pk]))
    return _done(request, back, f"You asked to join {conversation.name}.")


@login_required
def rooms(request):
    search = request.GET.get("q", "")[:100]
    try:
        found = selectors.rooms_search(user=request.user, search=search)
    except Invalid as error:
        raise BadRequest(error.message) from None
    found = found.order_by("name", "pk")[:200]
    return render(
        request,
        "web/rooms.html",
        {"rooms": found, "search": search, "page_data": _me(request), "nav": "rooms"},
    )


# --- search -------------------------------------------------------------------------------


@login_required
def search_page(request):
    """Search what you may read; each result opens its conversation at that message."""
    q = request.GET.get("q", "")
    context: dict = {"q": q, "page_data": _me(request), "nav": "search", "results": None}
    if q.strip():
        before = request.GET.get("below", "")
        cursor = search.Cursor(int(before)) if before.isascii() and before.isdigit() else None
        try:
            page = search.search(
                user=request.user, q=q, filters=search.Filters(), cursor=cursor, limit=30
            )
        except Invalid as error:
            context["error"] = " ".join(m for msgs in error.fields.values() for m in msgs)
        else:
            context["results"] = json.loads(page.results)
            context["below"] = page.next.message_id if page.next else None
    return render(request, "web/search.html", context)


# --- blocks -------------------------------------------------------------------------------


@login_required
def blocks(request):
    form = UsernameForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            person = _user_named(form.cleaned_data["username"])
            account_services.block_create(blocker=request.user, blocked_id=person.pk)
        except Invalid as error:
            _apply_errors(form, error)
        else:
            return _done(request, reverse("web:blocks"), f"You blocked {person.username}.")
    blocked = account_selectors.blocks_made_by(user=request.user).order_by("blocked__username")
    return render(request, "web/blocks.html", {"form": form, "blocks": blocked, "nav": "blocks"})


@login_required
@require_POST
def unblock(request, user_id: int):
    try:
        account_services.block_delete(blocker=request.user, blocked_id=user_id)
    except DomainError as error:
        return _refused(request, error, reverse("web:blocks"))
    return _done(request, reverse("web:blocks"), "Unblocked.")


# --- boards -------------------------------------------------------------------------------


@login_required
def boards(request):
    form = BoardCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            board = board_services.board_create(actor=request.user, name=form.cleaned_data["name"])
        except Invalid as error:
            _apply_errors(form, error)
        else:
            return redirect("web:board", board.pk)
    listed = board_selectors.board_list().order_by("name")[:500]
    return render(request, "web/boards.html", {"form": form, "boards": listed, "nav": "boards"})


@login_required
def board(request, board_id: int):
    try:
        found = board_selectors.board_get(board_id=board_id, with_message_count=False)
    except NotFound:
        raise Http404("No such board.") from None
    form = PostForm(request.POST or None, initial={"topic": request.GET.get("topic", "")})
    if request.method == "POST":
        if form.is_valid():
            try:
                board_services.board_post(actor=request.user, board=found, **form.cleaned_data)
            except Invalid as error:
                _apply_errors(form, error)
            except Forbidden as error:
                form.add_error(None, error.message)
            else:
                return _done(request, request.get_full_path())
        if _is_fetch(request):
            return JsonResponse({"ok": False, "errors": form.errors}, status=400)
    topic = request.GET.get("topic", "").strip()[:60] or None
    try:
        posts, has_more = board_selectors.board_messages(board=found, topic=topic, limit=PAGE)
    except Invalid as error:
        raise BadRequest(error.message) from None
    return render(
        request,
        "web/board.html",
        {
            "board": found,
            "posts": posts,
            "has_more": has_more,
            "topic": topic or "",
            "form": form,
            "page_data": _me(request, boardId=found.pk, topic=topic),
            "nav": "boards",
        },
    )


# --- account: tokens and sessions ---------------------------------------------------------


@login_required
def account(request):
    return render(
        request,
        "web/account.html",
        {"tokens": tokens_of(request.user), "nav": "account"},
    )


@login_required
@require_POST
def token_revoke(request, prefix: str):
    try:
        account_services.token_revoke(user=request.user, prefix=prefix)
    except DomainError as error:
        return _refused(request, error, reverse("web:account"))
    return _done(request, reverse("web:account"), "Token revoked: apps using it are signed out.")


@login_required
@require_POST
def sign_out_everywhere(request):
    account_services.sign_out_everywhere(user=request.user)
    logout(request)
    messages.success(request, "You are signed out everywhere, here too.")
    return redirect("web:login")
