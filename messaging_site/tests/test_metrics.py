"""/metrics (SPEC section 15): who may read it, and that each series moves when what it
counts happens. In this process the series are single-process (no
PROMETHEUS_MULTIPROC_DIR); tests/test_metrics_hosts.py runs the multiprocess mode."""

import ipaddress
import os
import re
import subprocess
import sys

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.urls import reverse
from prometheus_client import values

from conftest import ROOT
from messaging_site import metrics
from messaging_site.asgi import application
from messaging_site.tests.scraping import TOKEN, value

# --- who may read it ----------------------------------------------------------------------


@pytest.mark.django_db
def test_nobody_reads_metrics_by_default():
    """Neither a token nor addresses configured: a 404 like any unknown path."""
    assert Client().get("/metrics").status_code == 404
    assert Client().get("/metrics", headers={"authorization": "Bearer "}).status_code == 404


@pytest.mark.django_db
def test_the_token_opens_metrics_and_a_wrong_one_does_not(settings):
    settings.METRICS_TOKEN = TOKEN
    assert Client().get("/metrics").status_code == 404
    wrong = {"authorization": f"Bearer {TOKEN}x"}
    assert Client().get("/metrics", headers=wrong).status_code == 404
    right = {"authorization": f"Bearer {TOKEN}"}
    assert Client().get("/metrics", headers=right).status_code == 200


@pytest.mark.django_db
def test_allowed_networks_open_metrics_without_a_token(settings):
    settings.METRICS_ALLOWED_IPS = [ipaddress.ip_network("10.0.0.0/8")]
    assert Client(REMOTE_ADDR="10.1.2.3").get("/metrics").status_code == 200
    assert Client(REMOTE_ADDR="192.168.1.9").get("/metrics").status_code == 404
    assert Client(REMOTE_ADDR="not an address").get("/metrics").status_code == 404


def test_allowed_networks_are_read_from_the_environment():
    NAME = "METRICS_ALLOWED_IPS"
    shown = subprocess.run(
        [sys.executable, "-c", f"from django.conf import settings; print(settings.{NAME})"],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "messaging_site.settings.test",
             NAME: "10.0.0.0/8, 127.0.0.1"},
        capture_output=True, text=True, check=True, cwd=ROOT,
    )  # fmt: skip
    assert shown.stdout.strip() == ("[IPv4Network('10.0.0.0/8'), IPv4Network('127.0.0.1/32')]")


# --- what it says ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_every_series_of_spec_section_15_is_there(scrape):
    """Before anything happened: the series without labels, the outcomes (whose labels
    are known in advance) and what the database says. Series labelled by action, route
    or backend appear with their first sample (the tests below)."""
    text = scrape()
    for family in (
        "messaging_websocket_open",
        "messaging_websocket_gap_fills",
        "messaging_commit_to_frame_seconds",
        "messaging_channel_layer_publish_failures",
        "messaging_sms_limiter_wait_seconds",
        "messaging_sms_outcomes",
        "messaging_sms_records",
        "messaging_sms_delivery_reports",
        "messaging_campaigns",
    ):
        assert re.search(rf"^# TYPE {family}(_total)? ", text, re.M), family
    for outcome in ("sent", "retry", "dead", "failed", "skipped", "expired", "lost"):
        assert f'messaging_sms_outcomes_total{{outcome="{outcome}"}}' in text


@pytest.mark.django_db
def test_http_latency_is_counted_under_the_urls_name(scrape, api, alice):
    series = "messaging_http_request_duration_seconds_count"
    before = value(scrape(), series, route="conversation-list", method="GET")
    api.force_authenticate(alice)
    assert api.get(reverse("conversation-list")).status_code == 200
    assert api.get(reverse("conversation-list")).status_code == 200
    assert Client().get("/no/such/path/").status_code == 404
    text = scrape()
    assert value(text, series, route="conversation-list", method="GET") == before + 2
    assert value(text, series, route="unmatched", method="GET") >= 1


# --- sockets --------------------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_sockets_frames_and_commit_to_frame_are_counted(alice, bob, settings):
    settings.METRICS_TOKEN = TOKEN
    get = database_sync_to_async(
        lambda: Client().get("/metrics", headers={"authorization": f"Bearer {TOKEN}"})
    )
    before = (await get()).content.decode()
    sockets = []
    for user in (alice, bob):
        socket = WebsocketCommunicator(application, f"/ws/?token={user.auth_token.key}")
        assert (await socket.connect())[0]
        sockets.append(socket)
    sender, receiver = sockets
    text = (await get()).content.decode()
    assert value(text, "messaging_websocket_open") == value(before, "messaging_websocket_open") + 2

    await sender.send_to(text_data="not json")
    await sender.send_json_to({"action": "noSuchAction", "requestId": 1})
    await sender.send_json_to({"action": "sendDirect", "to": bob.pk, "message": "hi"})
    frames = []
    while not any(frame.get("action") == "ack" for frame in frames):
        frames.append(await sender.receive_json_from(timeout=3))
    while True:
        frame = await receiver.receive_json_from(timeout=3)
        if frame.get("action") == "message":
            break
    text = (await get()).content.decode()
    received = "messaging_websocket_frames_received_total"
    for action in ("invalid", "unknown", "sendDirect"):
        assert value(text, received, action=action) == value(before, received, action=action) + 1
    sent = "messaging_websocket_frames_sent_total"
    assert value(text, sent, action="error") >= value(before, sent, action="error") + 2
    assert value(text, sent, action="ack") >= value(before, sent, action="ack") + 1
    assert value(text, sent, action="message") >= value(before, sent, action="message") + 1
    # The message reached the receiver through the channel layer, from its commit.
    latency = "messaging_commit_to_frame_seconds_count"
    assert value(text, latency) >= value(before, latency) + 1

    for socket in sockets:
        await socket.disconnect()
    text = (await get()).content.decode()
    assert value(text, "messaging_websocket_open") == value(before, "messaging_websocket_open")


def test_frames_are_labelled_by_their_action_without_decoding():
    assert metrics.frame_action('{"action":"message","seq":1}') == "message"
    assert metrics.frame_action('{"seq":1,"action":"message"}') == "other"
    assert metrics.frame_action('{"action":"' + "x" * 100) == "other"


def test_multiprocess_files_are_named_by_the_hook_this_module_sets():
    """messaging_site.metrics names each process's files by host name and pid through
    prometheus-client's `values.ValueClass`, read when a series is created, and
    `MultiProcessValue(process_identifier)`: if either moves, this fails."""
    assert "ValueClass" in vars(values)
    made = values.MultiProcessValue(metrics.process_id)
    assert callable(made)
    assert re.fullmatch(r"[^_]+-\d+", metrics.process_id())
