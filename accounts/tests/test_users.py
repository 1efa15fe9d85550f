import pytest

pytestmark = pytest.mark.django_db


def test_me_shows_own_email(client_for, alice):
    response = client_for(alice).get("/api/users/me/")
    assert response.status_code == 200
    assert response.json() == {
        "id": alice.pk,
        "username": "alice",
        "email": "alice@example.com",
        "name": "Alice",
    }


@pytest.mark.parametrize("query", ["email=BOB@example.com", "username=BoB", "username=bob"])
def test_lookup_is_exact_and_case_insensitive_and_hides_email(client_for, alice, bob, query):
    response = client_for(alice).get(f"/api/users/?{query}")
    assert response.status_code == 200
    body = response.json()
    assert body["results"] == [{"id": bob.pk, "username": "bob", "name": "Bob"}]
    assert {"next", "previous"} <= set(body)


def test_lookup_is_exact_not_a_prefix_search(client_for, alice, bob):
    response = client_for(alice).get("/api/users/?username=bo")
    assert response.json()["results"] == []


def test_lookup_needs_a_criterion(client_for, alice, bob):
    response = client_for(alice).get("/api/users/")
    assert response.status_code == 400


def test_lookup_skips_deactivated_users(client_for, alice, bob):
    bob.is_active = False
    bob.save()
    assert client_for(alice).get("/api/users/?username=bob").json()["results"] == []


def test_lookup_costs_the_same_queries_whatever_matches(
    client_for, alice, bob, django_assert_num_queries
):
    client = client_for(alice)
    # auth (token + user), the lookup
    with django_assert_num_queries(2):
        client.get("/api/users/?username=bob")
    with django_assert_num_queries(2):
        client.get("/api/users/?username=nobody")


def test_user_by_id_never_shows_email(client_for, alice, bob):
    response = client_for(alice).get(f"/api/users/{bob.pk}/")
    assert response.status_code == 200
    assert response.json() == {"id": bob.pk, "username": "bob", "name": "Bob"}


@pytest.mark.parametrize("path", ["/api/users/999999/", "/api/users/abc/"])
def test_unknown_user_is_404(client_for, alice, path):
    assert client_for(alice).get(path).status_code == 404


def test_user_id_in_body_is_ignored_by_me(client_for, alice, bob):
    response = client_for(alice).get(f"/api/users/me/?user_id={bob.pk}")
    assert response.json()["id"] == alice.pk
