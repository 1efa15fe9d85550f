"""Log lines (SPEC section 15, messaging_site/logs.py): a real Daphne and a real Celery
worker with LOG_FORMAT=json, a whole session of a person's and a marketer's work through
them, and then every line both wrote: each one JSON object with time, level and event,
carrying the ids of what it is about, and none holding a token, a password or a message
body."""

import asyncio
import json
import logging
import os
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid

import pytest
import websockets
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.db import connection
from rest_framework.authtoken.models import Token

from accounts.models import User
from campaigns.models import SmsMessage
from campaigns.tests.conftest import ensure_managers_group
from campaigns.tests.test_kannel import eventually
from chat.models import Message
from conftest import ROOT, _daphne, _database_url
from messaging_site import logs
from messaging_site.asgi import application
from messaging_site.realtime import user_group

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SECRET_PREFIX = "s3cr3t"
# Written by Celery's own signal handlers with a raw os.write, outside logging (celery/apps/
# worker.py): the one kind of line that is not JSON (README, "Logs").
CELERY_SIGNAL_LINES = {"worker: Warm shutdown (MainProcess)"}


def _secret(kind: str) -> str:
    """A value that must never appear in a log: unmistakable, and unique to this run."""
    return f"{SECRET_PREFIX}{kind}{uuid.uuid4().hex[:12]}"


def _call(address: str, method: str, path: str, body=None, token=None) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Token {token}"
    request = urllib.request.Request(
        f"http://{address}{path}",
        data=None if body is None else json.dumps(body).encode(),
        headers=headers,
        method=method,
    )
    try:
        with urllib.request.urlopen(request, timeout=15) as response:  # noqa: S310 - http only
            text = response.read().decode()
            return response.status, json.loads(text) if text else {}
    except urllib.error.HTTPError as error:
        text = error.read().decode()
        return error.code, json.loads(text) if text.startswith("{") else {}


def test_a_whole_session_logs_json_lines_without_secrets(tmp_path, bob):
    password, kannel_secret = _secret("password"), _secret("kannelsecret")
    bodies = [_secret("body") for _ in range(4)]
    env = {
        "LOG_FORMAT": "json",
        "THROTTLES": "off",
        "KANNEL_SECRET": kannel_secret,
        "SMS_BACKEND": "campaigns.backends.console.ConsoleBackend",
    }
    worker_log = tmp_path / "worker.log"
    with _daphne("logs-web", **env) as (address, _):
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-q", "-A", "messaging_site", "worker",
             "--loglevel", "INFO", "--without-mingle", "--without-gossip",
             "--concurrency", "1", "--hostname", f"logs-{uuid.uuid4().hex[:6]}@localhost"],
            cwd=ROOT,
            env={**os.environ, **env, "DJANGO_SETTINGS_MODULE": "messaging_site.settings.test",
                 "DATABASE_URL": _database_url_now(), "DATABASE_POOL": "off"},
            stdout=worker_log.open("w"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            token = _session(address, password, kannel_secret, bodies, bob)
        finally:
            worker.terminate()
            worker.wait(timeout=20)
    web_log = ROOT / ".pytest-logs-web.log"
    lines = [
        line
        for path in (web_log, worker_log)
        for line in path.read_text().splitlines()
        if line.strip() and line not in CELERY_SIGNAL_LINES
    ]
    secrets = [password, kannel_secret, token, *bodies]
    for line in lines:
        for secret in secrets:
            assert secret not in line, (secret, line)
        assert SECRET_PREFIX not in line, line
        assert line.startswith("{"), line
        record = json.loads(line)  # every line, Celery's and Daphne's own included
        assert {"time", "level", "event"} <= record.keys(), line
    records = [json.loads(line) for line in lines]
    # What each line is about, bound once and carried.
    attempts = [r for r in records if r.get("logger") == "campaigns.send"]
    assert attempts
    for record in attempts:
        assert {"sms_id", "campaign_id", "task_id", "outcome"} <= record.keys(), record
    missing = [r for r in records if r.get("logger") == "django.request"]
    assert missing
    assert all("request_id" in r for r in missing), missing
    assert any(r.get("user_id") == _user_id(token) for r in missing), missing
    access = [r for r in records if r.get("logger") == "daphne.access"]
    assert {r["path"] for r in access} >= {"/api/sms/inbound/kannel/", "/ws/"}, access


def _database_url_now() -> str:
    return _database_url(connection.settings_dict)


def _user_id(token: str) -> int:
    return Token.objects.get(key=token).user_id


def _session(address: str, password: str, secret: str, bodies: list[str], bob) -> str:
    """Sign up, take a token, chat over a socket and REST, text STOP through Kannel's
    callback, and run a campaign; returns the token."""
    name = f"logs{uuid.uuid4().hex[:8]}"
    status, _ = _call(
        address, "POST", "/api/auth/register/", {"username": name, "password": password}
    )
    assert status == 201
    status, answer = _call(
        address, "POST", "/api/auth/token/", {"username": name, "password": password}
    )
    assert status == 200
    token = answer["token"]
    assert _call(address, "POST", "/api/auth/token/", {"username": name, "password": "x"})[0] == 400

    async def chat():
        async with websockets.connect(f"ws://{address}/ws/?token={token}") as socket:
            await socket.send(
                json.dumps(
                    {"action": "sendDirect", "to": bob.pk, "message": bodies[0], "clientId": "c1"}
                )
            )
            while json.loads(await socket.recv()).get("action") != "ack":
                pass

    asyncio.run(chat())
    conversation = Message.objects.get(text=bodies[0]).conversation_id
    status, _ = _call(
        address, "POST", f"/api/conversations/{conversation}/messages/", {"text": bodies[1]}, token
    )
    assert status == 201, status
    # A 404 that a person's token reached: django.request logs it, with the request's ids.
    assert _call(address, "GET", "/api/conversations/999999999/messages/", token=token)[0] == 404
    query = urllib.parse.urlencode(
        {"secret": secret, "from": "+14155550199", "to": "12345", "text": f"STOP {bodies[2]}"}
    )
    with urllib.request.urlopen(f"http://{address}/api/sms/inbound/kannel/?{query}", timeout=10):
        pass
    # A marketer's campaign, sent by the worker.
    User.objects.get(username=name).groups.add(ensure_managers_group())
    status, campaign = _call(
        address, "POST", "/api/campaigns/",
        {"name": "logs", "message": bodies[3], "recipients": ["+14155550198"]}, token,
    )  # fmt: skip
    assert status == 201, campaign
    assert _call(address, "POST", f"/api/campaigns/{campaign['id']}/launch/", {}, token)[0] == 202
    assert eventually(
        lambda: SmsMessage.objects.filter(campaign_id=campaign["id"], status="sent").exists(),
        timeout=30,
    )
    return token


@pytest.mark.asyncio
async def test_a_sockets_lines_carry_its_connection_and_user(alice, capsys):
    """The consumer binds them when the user is known; a line it logs later, for an event
    it cannot serve, carries them."""
    handler = _json_handler()
    try:
        socket = WebsocketCommunicator(application, f"/ws/?token={alice.auth_token.key}")
        assert (await socket.connect())[0]
        await get_channel_layer().group_send(user_group(alice.pk), {"type": "no.such.event"})
        await asyncio.sleep(0.5)
        await socket.disconnect()
    finally:
        _remove(handler)
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    (dropped,) = [r for r in lines if "no relay" in r["event"]]
    assert dropped["user_id"] == alice.pk
    assert len(dropped["connection_id"]) == 16


def _json_handler():
    handler = logging.StreamHandler()
    handler.setFormatter(logs.formatter("json"))
    logging.getLogger("messaging_site.consumers").addHandler(handler)
    return handler


def _remove(handler) -> None:
    logging.getLogger("messaging_site.consumers").removeHandler(handler)
