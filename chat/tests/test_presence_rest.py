"""SPEC section 13, presence over REST: GET /api/presence/ and the members lists."""

import pytest

from chat import presence

pytestmark = pytest.mark.django_db


def test_rest_presence_and_members_lists(alice, bob, charlie, group, client_for):
    presence.apply(alice.pk, "open", "tab-1")
    presence.apply(charlie.pk, "open", "tab-2")  # shares no conversation with bob
    body = client_for(bob).get(f"/api/presence/?user_ids={alice.pk},{charlie.pk},{bob.pk}")
    assert body.status_code == 200
    rows = {row["user_id"]: row for row in body.json()}
    assert rows[alice.pk]["status"] == "active"
    assert rows[alice.pk]["last_seen"].endswith("Z")
    assert rows[charlie.pk] == {"user_id": charlie.pk, "status": "offline", "last_seen": None}
    assert rows[bob.pk]["status"] == "offline"
    members = client_for(bob).get(f"/api/conversations/{group.pk}/members/").json()["results"]
    by_name = {m["username"]: m for m in members}
    assert by_name["alice"]["presence"] == "active"
    assert by_name["alice"]["status"] == "approved"  # the membership's, as ever
    assert by_name["bob"]["presence"] == "offline"
    presence.apply(alice.pk, "idle", "tab-1")
    rows = client_for(bob).get(f"/api/presence/?user_ids={alice.pk}").json()
    assert rows[0]["status"] == "idle"


@pytest.mark.parametrize("ids", ["", "x", "1,,a", "-1", ",".join(["1"] * 201)])
def test_rest_presence_bad_ids_are_400(bob, client_for, ids):
    response = client_for(bob).get(f"/api/presence/?user_ids={ids}")
    assert response.status_code == 400
    assert "user_ids" in response.json()
