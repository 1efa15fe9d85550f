"""Fixtures shared by every app's tests.

People: alice (an owner in most tests), bob (a member) and charlie (the outsider), all
made through the registration service so tests exercise the real rules.
"""

import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.test import Client
from rest_framework.test import APIClient

from messaging_site.tests.scraping import TOKEN as METRICS_TOKEN

ROOT = Path(__file__).resolve().parent
PASSWORD = "a-long-enough-passphrase-42"


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """The reused test database (--reuse-db), emptied first: a run stopped part way
    (Ctrl-C in a test that commits) leaves its rows behind, and every test after would
    meet users it did not make. Flushing recreates permissions as migrate does."""
    from django.core.management import call_command

    with django_db_blocker.unblock():
        call_command("flush", interactive=False, verbosity=0)


@pytest.fixture
def make_user(db):
    from accounts.services import user_register

    def make(username, **fields):
        fields.setdefault("email", f"{username}@example.com")
        fields.setdefault("name", username.capitalize())
        return user_register(username=username, password=PASSWORD, **fields)

    return make


@pytest.fixture
def alice(make_user):
    return make_user("alice")


@pytest.fixture
def bob(make_user):
    return make_user("bob")


@pytest.fixture
def charlie(make_user):
    return make_user("charlie")


@pytest.fixture
def moderator(make_user):
    """A browser signed in to Django admin as a staff superuser."""
    from django.test import Client

    user = make_user("mod")
    user.is_staff = user.is_superuser = True
    user.save()
    browser = Client()
    browser.force_login(user)
    return browser


def forget_throttle_counts() -> None:
    """Every throttle starts from an empty count: their windows are this run's Redis keys
    under `<prefix>:throttle:` (messaging_site.throttling), and only those go."""
    from messaging_site import redis_client

    client = redis_client.client()
    keys = list(client.scan_iter(match=redis_client.key("throttle", "*")))
    if keys:
        client.delete(*keys)


@pytest.fixture(autouse=True)
def forget_presence():
    """Presence is Redis state keyed by user id (chat.presence): a test starts with none."""
    from messaging_site import redis_client

    client = redis_client.client()
    keys = list(client.scan_iter(match=redis_client.key("presence", "*")))
    if keys:
        client.delete(*keys)


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def client_for():
    """An API client authenticated with the user's token."""

    def make(user):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {user.auth_token.key}")
        return client

    return make


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(
    port: int, process: subprocess.Popen, host: str = "127.0.0.1", timeout: float = 30
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early with {process.returncode}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port} after {timeout}s")


@contextlib.contextmanager
def _daphne(name: str, *, host: str = "127.0.0.1", port: int | None = None, args=(), **extra_env):
    """A real Daphne process on the test database and Redis, stopped on exit; yields its
    address and pid."""
    from django.db import connection

    port = port or _free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "messaging_site.settings.test",
        "DATABASE_URL": _database_url(connection.settings_dict),
        "DATABASE_POOL": "on",
        "PYTHONUNBUFFERED": "1",
        **extra_env,
    }
    log = open(ROOT / f".pytest-{name}.log", "w")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "messaging_site.server",
            "-b",
            host,
            "-p",
            str(port),
            "--websocket_timeout",
            "-1",
            *args,
            "messaging_site.asgi:application",
        ],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_for_port(port, process, host)
        yield f"{host}:{port}", process.pid
    finally:
        _stop(process)
        log.close()


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL after 10 s."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def daphne_server(django_db_setup, django_db_blocker):
    """One real Daphne process for the whole session, on the test database and Redis.

    Tests that use it must commit what it should see: mark them
    `django_db(transaction=True)`.
    """
    # Offline 2 s after the last socket closes (30 s in production).
    with _daphne("daphne", PRESENCE_OFFLINE_SECONDS="2") as (address, _):
        yield address


@pytest.fixture(scope="session")
def daphne_pair(django_db_setup, django_db_blocker):
    """Two Daphne processes sharing Redis, as a scaled-out deployment runs. The first one
    delays every 5th relayed message event by 300 ms, handing it back out of order."""
    # Offline a second after the last socket closes (30 s in production).
    quick = {"THROTTLES": "off", "PRESENCE_OFFLINE_SECONDS": "1"}
    with (
        _daphne("daphne-faulty", WS_FAULT_EVERY="5", **quick) as (first, _),
        _daphne("daphne-second", **quick) as (second, _),
    ):
        yield first, second


def _database_url(settings_dict) -> str:
    user = settings_dict.get("USER") or "postgres"
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or 5432
    password = f":{settings_dict['PASSWORD']}" if settings_dict.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{host}:{port}/{settings_dict['NAME']}"


@pytest.fixture(scope="module")
def chromium():
    """Debian's Chromium, headless, driven by Playwright (no browser download here).

    Playwright's sync API keeps an event loop running in this thread, which makes Django
    refuse ORM calls as if they came from async code; Django's documented way out for
    this case is DJANGO_ALLOW_ASYNC_UNSAFE, set only while a browser module runs.
    Module scope ends that loop before the next module's tests start.
    """
    from playwright.sync_api import sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            yield from _launch(playwright)
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


def _launch(playwright):
    browser = playwright.chromium.launch(
        executable_path="/usr/bin/chromium",
        headless=True,
        args=[
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ],
    )
    yield browser
    browser.close()


@pytest.fixture(autouse=True)
def fresh_channel_layer():
    """A channel layer per test: each async test has its own event loop, and a
    channels-redis layer keeps locks and pools bound to the loop that first used it."""
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@pytest.fixture
def people(chromium, daphne_server):
    """`people(user)`: that user signed in, in a browser context of their own
    (tests/browser.py). Any page error any of them hit fails the test."""
    from tests.browser import Person

    made = []

    def make(user):
        person = Person(chromium, daphne_server, user)
        made.append(person)
        return person

    yield make
    for person in made:
        person.context.close()
    for person in made:
        assert person.errors == [], (person.user.username, person.errors)


@pytest.fixture
def scrape(settings):
    """A function that GETs /metrics with the token and returns its text."""
    settings.METRICS_TOKEN = METRICS_TOKEN

    def read() -> str:
        response = Client().get("/metrics", headers={"authorization": f"Bearer {METRICS_TOKEN}"})
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/plain; version=")
        return response.content.decode()

    return read
