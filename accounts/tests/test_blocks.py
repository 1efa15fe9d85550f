import pytest

from accounts.models import Block

pytestmark = pytest.mark.django_db
BLOCKS = "/api/blocks/"


def test_block_then_list(client_for, alice, bob):
    client = client_for(alice)
    response = client.post(BLOCKS, {"user_id": bob.pk})
    assert response.status_code == 201
    assert response.json()["user_id"] == bob.pk
    assert response.json()["username"] == "bob"
    listed = client.get(BLOCKS).json()
    assert [row["user_id"] for row in listed["results"]] == [bob.pk]
    assert set(listed["results"][0]) == {"user_id", "username", "created_at"}


def test_blocking_again_is_200_and_no_duplicate(client_for, alice, bob):
    client = client_for(alice)
    client.post(BLOCKS, {"user_id": bob.pk})
    again = client.post(BLOCKS, {"user_id": bob.pk})
    assert again.status_code == 200
    assert Block.objects.filter(blocker=alice, blocked=bob).count() == 1


def test_blocking_yourself_is_400(client_for, alice):
    response = client_for(alice).post(BLOCKS, {"user_id": alice.pk})
    assert response.status_code == 400
    assert "user_id" in response.json()
    assert not Block.objects.exists()


def test_blocking_unknown_user_is_404(client_for, alice):
    response = client_for(alice).post(BLOCKS, {"user_id": 987654})
    assert response.status_code == 404
    assert not Block.objects.exists()


@pytest.mark.parametrize("payload", [{}, {"user_id": "x"}, {"user_id": 0}, {"user_id": None}])
def test_bad_block_input_is_400(client_for, alice, payload):
    response = client_for(alice).post(BLOCKS, payload, format="json")
    assert response.status_code == 400
    assert not Block.objects.exists()


def test_list_shows_only_own_blocks(client_for, alice, bob, charlie):
    client_for(bob).post(BLOCKS, {"user_id": charlie.pk})
    assert client_for(alice).get(BLOCKS).json()["results"] == []


def test_unblock(client_for, alice, bob):
    client = client_for(alice)
    client.post(BLOCKS, {"user_id": bob.pk})
    response = client.delete(f"{BLOCKS}{bob.pk}/")
    assert response.status_code == 204
    assert not Block.objects.exists()


def test_unblock_someone_not_blocked_is_204(client_for, alice, bob):
    assert client_for(alice).delete(f"{BLOCKS}{bob.pk}/").status_code == 204


def test_unblock_unknown_user_is_404(client_for, alice):
    assert client_for(alice).delete(f"{BLOCKS}987654/").status_code == 404


def test_unblock_removes_only_the_callers_block(client_for, alice, bob):
    client_for(alice).post(BLOCKS, {"user_id": bob.pk})
    client_for(bob).post(BLOCKS, {"user_id": alice.pk})
    client_for(alice).delete(f"{BLOCKS}{bob.pk}/")
    assert list(Block.objects.values_list("blocker", "blocked")) == [(bob.pk, alice.pk)]


def test_block_list_query_count_does_not_grow(
    client_for, make_user, alice, django_assert_num_queries
):
    from accounts.services import block_create

    others = [make_user(f"user{i}") for i in range(30)]
    for other in others[:3]:
        block_create(blocker=alice, blocked_id=other.pk)
    client = client_for(alice)
    # auth (token + user), the page
    with django_assert_num_queries(2):
        assert len(client.get(BLOCKS).json()["results"]) == 3
    for other in others[3:]:
        block_create(blocker=alice, blocked_id=other.pk)
    with django_assert_num_queries(2):
        assert len(client.get(f"{BLOCKS}?limit=50").json()["results"]) == 30


def test_block_list_pages_with_cursor(client_for, make_user, alice):
    from accounts.services import block_create

    for i in range(5):
        block_create(blocker=alice, blocked_id=make_user(f"p{i}").pk)
    client = client_for(alice)
    first = client.get(f"{BLOCKS}?limit=2").json()
    assert len(first["results"]) == 2
    assert first["next"]
    second = client.get(first["next"]).json()
    seen = {r["user_id"] for r in first["results"]} | {r["user_id"] for r in second["results"]}
    assert len(seen) == 4
