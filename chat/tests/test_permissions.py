"""Who may do what, endpoint by endpoint (docs/ARCHITECTURE.md, "Where each rule lives").

A stranger gets 404 for anything in a group or direct conversation and 403 for a room's
messages and members; only admins decide; a pending member reads and sends nothing. Each
cell is one test, so a broken rule names itself.
"""

import pytest
from django.db import transaction

from accounts.services import block_create, user_register
from chat import memberships, services
from conftest import PASSWORD

# endpoint -> (method, path template, body); {c} conversation, {t} target user, {me} caller
ENDPOINTS = {
    "detail": ("get", "/api/conversations/{c}/", None),
    "history": ("get", "/api/conversations/{c}/messages/", None),
    "send": ("post", "/api/conversations/{c}/messages/", {"text": "hi"}),
    "members": ("get", "/api/conversations/{c}/members/", None),
    "add": ("post", "/api/conversations/{c}/members/", {"user_id": "{t}"}),
    "remove": ("delete", "/api/conversations/{c}/members/{t}/", None),
    "leave": ("delete", "/api/conversations/{c}/members/{me}/", None),
    "join": ("post", "/api/conversations/{c}/join/", None),
    "approve": ("post", "/api/conversations/{c}/members/{t}/approve/", None),
    "reject": ("post", "/api/conversations/{c}/members/{t}/reject/", None),
    "ban": ("post", "/api/conversations/{c}/members/{t}/ban/", None),
    "role": ("post", "/api/conversations/{c}/members/{t}/role/", {"role": "admin"}),
    "read": ("post", "/api/conversations/{c}/read/", {"seq": 1}),
}

OK = {"detail": 200, "history": 200, "send": 201, "members": 200, "read": 204, "leave": 204}
ADMIN = {**OK, "add": 201, "remove": 204, "approve": 200, "reject": 200, "ban": 200, "role": 200}
# In a room the target is a pending applicant; "remove" then withdraws their request.
ROOM = {
    "admin": {**ADMIN, "join": 409, "role": 409},  # a pending applicant has no role yet
    "member": {
        **OK,
        "add": 403,
        "remove": 403,
        "join": 409,
        "approve": 403,
        "reject": 403,
        "ban": 403,
        "role": 403,
    },
    "blocked": {
        **OK,
        "add": 403,
        "remove": 403,
        "join": 409,
        "approve": 403,
        "reject": 403,
        "ban": 403,
        "role": 403,
    },
    **{
        outsider: {
            "detail": 200,
            "history": 403,
            "send": 403,
            "members": 403,
            "add": 403,
            "remove": 403,
            "leave": 409,
            "join": join,
            "approve": 403,
            "reject": 403,
            "ban": 403,
            "role": 403,
            "read": 403,
        }
        for outsider, join in [
            ("pending", 202),
            ("rejected", 202),
            ("banned", 403),
            ("stranger", 202),
        ]
    },
}
ROOM["pending"]["leave"] = 204  # withdrawing one's own request
# In a group the target is a plain member; there are no requests to decide.
GROUP = {
    "admin": {**ADMIN, "join": 404, "add": 200, "approve": 409, "reject": 409},
    "member": {
        **OK,
        "add": 403,
        "remove": 403,
        "join": 404,
        "approve": 403,
        "reject": 403,
        "ban": 403,
        "role": 403,
    },
    "blocked": {
        **OK,
        "add": 403,
        "remove": 403,
        "join": 404,
        "approve": 403,
        "reject": 403,
        "ban": 403,
        "role": 403,
    },
    **{outsider: dict.fromkeys(ENDPOINTS, 404) for outsider in ("removed", "banned", "stranger")},
}
DIRECT = {
    "participant": {
        **OK,
        "add": 403,
        "remove": 403,
        "leave": 403,
        "join": 404,
        "approve": 403,
        "reject": 403,
        "ban": 403,
        "role": 403,
    },
    "stranger": dict.fromkeys(ENDPOINTS, 404),
}

CASES = [
    (kind, role, endpoint, expected[endpoint])
    for kind, table in (("room", ROOM), ("group", GROUP), ("direct", DIRECT))
    for role, expected in table.items()
    for endpoint in ENDPOINTS
]


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """Built once for the module inside an outer transaction that is rolled back at the
    end (like TestCase.setUpTestData); each test's own transaction nests inside it."""
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            yield _build_world()
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


def _build_world():
    """Every kind of person around one room, one group and one direct conversation."""

    def make_user(username):
        return user_register(username=username, password=PASSWORD)

    people = {
        name: make_user(name)
        for name in (
            "admin",
            "member",
            "blocked",
            "pending",
            "rejected",
            "banned",
            "removed",
            "stranger",
            "target",
            "poster",
        )
    }
    admin = people["admin"]
    room = services.conversation_create(actor=admin, kind="room", name="room")
    group = services.conversation_create(actor=admin, kind="group", name="group")
    for conversation in (room, group):
        for name in ("member", "blocked", "removed", "poster"):
            memberships.membership_add(
                actor=admin, conversation=conversation, user_id=people[name].pk
            )
        memberships.membership_remove(
            actor=admin, conversation=conversation, user_id=people["removed"].pk
        )
        memberships.membership_ban(
            actor=admin, conversation=conversation, user_id=people["banned"].pk
        )
        services.message_send(sender=people["poster"], conversation_id=conversation.pk, text="x")
    for name in ("pending", "rejected", "target"):
        memberships.membership_request(actor=people[name], conversation=room)
    memberships.membership_reject(actor=admin, conversation=room, user_id=people["rejected"].pk)
    memberships.membership_add(actor=admin, conversation=group, user_id=people["target"].pk)
    block_create(blocker=people["member"], blocked_id=people["blocked"].pk)
    direct, _ = services.direct_message_send(
        sender=people["poster"], recipient_id=people["member"].pk, text="dm"
    )
    people["participant"] = people["member"]
    return people, {"room": room, "group": group, "direct": direct.conversation}


@pytest.mark.parametrize(
    ("kind", "role", "endpoint", "expected"), CASES, ids=[f"{k}-{r}-{e}" for k, r, e, _ in CASES]
)
def test_permission_matrix(db, world, client_for, kind, role, endpoint, expected):
    people, conversations = world
    method, template, body = ENDPOINTS[endpoint]
    caller = people[role]
    target = people["poster"] if kind == "direct" else people["target"]
    fill = {"c": conversations[kind].pk, "t": target.pk, "me": caller.pk}
    path = template.format(**fill)
    if body is not None:
        body = {
            key: int(value.format(**fill)) if isinstance(value, str) and "{" in value else value
            for key, value in body.items()
        }
    response = getattr(client_for(caller), method)(path, body, format="json")
    assert response.status_code == expected, response.content[:300]


def test_stranger_learns_nothing_from_a_group_404(db, world, client_for):
    people, conversations = world
    missing = client_for(people["stranger"]).get("/api/conversations/987654/")
    hidden = client_for(people["stranger"]).get(f"/api/conversations/{conversations['group'].pk}/")
    assert missing.json() == hidden.json()
