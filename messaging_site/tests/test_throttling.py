"""The throttle's count is atomic: requests racing at the limit let exactly the limit in.
(Per-endpoint behaviour, 429 and Retry-After are in accounts/tests/test_auth.py.)"""

import threading
from types import SimpleNamespace

import pytest

from conftest import forget_throttle_counts
from messaging_site.throttling import UserWriteThrottle


@pytest.fixture
def user_write(settings):
    forget_throttle_counts()
    settings.THROTTLES_ENABLED = True
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "user_write": "5/min",
        },
    }


def request_by(user_id):
    return SimpleNamespace(method="POST", user=SimpleNamespace(pk=user_id, is_authenticated=True))


def test_racing_requests_at_the_limit_let_exactly_the_limit_in(user_write):
    start, verdicts = threading.Barrier(20), []

    def attempt():
        throttle = UserWriteThrottle()
        start.wait()
        verdicts.append(throttle.allow_request(request_by(1), None))

    threads = [threading.Thread(target=attempt) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert verdicts.count(True) == 5


def test_the_window_slides_and_a_refusal_says_how_long_to_wait(user_write, monkeypatch):
    clock = [1_000.0]
    monkeypatch.setattr(UserWriteThrottle, "timer", lambda self: clock[0])
    throttle = UserWriteThrottle()
    for second in range(5):
        clock[0] = 1_000.0 + second * 10
        assert throttle.allow_request(request_by(2), None)
    clock[0] = 1_045.0
    assert not throttle.allow_request(request_by(2), None)
    assert throttle.wait() == 15  # the first request leaves the window at 1,060
    assert throttle.allow_request(request_by(3), None)  # someone else is counted apart
    clock[0] = 1_060.5
    assert throttle.allow_request(request_by(2), None)


def test_redis_unreachable_lets_writes_through_and_refuses_password_checks(monkeypatch, settings):
    """The write throttle is a flood guard and fails open; the password throttle fails
    closed (the request becomes a 503), so an outage opens no window for guessing."""
    import redis

    from messaging_site import throttling

    settings.THROTTLES_ENABLED = True

    def unreachable():
        def script(**kwargs):
            raise redis.exceptions.ConnectionError("Error 111 connecting to 127.0.0.1:6379")

        return script

    monkeypatch.setattr(throttling, "_sliding_window", unreachable)
    writer = SimpleNamespace(
        method="POST", user=SimpleNamespace(is_authenticated=True, pk=1), META={}
    )
    assert UserWriteThrottle().allow_request(writer, None) is True
    guesser = SimpleNamespace(method="POST", META={"REMOTE_ADDR": "192.0.2.1"}, headers={})
    with pytest.raises(redis.exceptions.ConnectionError):
        throttling.LoginThrottle().allow_request(guesser, None)
