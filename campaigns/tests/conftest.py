import importlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.apps import apps as django_apps
from django.contrib.auth.models import Group
from django.db import connection

from campaigns.backends.locmem import LocmemBackend
from conftest import _database_url

ROOT = Path(__file__).resolve().parents[2]


def ensure_managers_group() -> Group:
    """The group, as the data migration makes it. Transactional tests flush the database,
    data migrations' rows included, so tests run the migration's own function again."""
    migration = importlib.import_module("campaigns.migrations.0002_campaign_managers_group")
    migration.create_group(django_apps, None)
    return Group.objects.get(name=migration.GROUP)


@pytest.fixture
def manager(make_user):
    """A member of "Campaign managers"."""
    user = make_user("marketer")
    user.groups.add(ensure_managers_group())
    return user


@pytest.fixture
def fast_sms(settings):
    """Locmem provider, a limit high enough not to wait, an empty outbox."""
    settings.SMS_BACKEND = "campaigns.backends.locmem.LocmemBackend"
    settings.SMS_SEGMENTS_PER_SECOND = 10_000
    LocmemBackend.outbox.clear()
    yield LocmemBackend.outbox
    LocmemBackend.outbox.clear()


class Sink(ThreadingHTTPServer):
    """A provider on localhost: records every arrival and answers from a script.

    `script` maps a reference to a list of (status, headers, body) answers used in turn;
    anything unscripted gets 200 {"id": ...}.
    """

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), SinkHandler)
        self.arrivals: list[tuple[float, dict]] = []
        self.script: dict[str, list[tuple[int, dict, dict]]] = {}
        self.delay = 0.0
        self.lock = threading.Lock()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}/sms"

    def references(self):
        return [payload["reference"] for _, payload in self.arrivals]


class SinkHandler(BaseHTTPRequestHandler):
    # Keep-alive, as a real provider speaks it.
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        arrived = time.time()
        payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        sink: Sink = self.server
        with sink.lock:
            sink.arrivals.append((arrived, payload))
            answers = sink.script.get(payload["reference"])
            answer = answers.pop(0) if answers else None
        if sink.delay:
            time.sleep(sink.delay)
        status, headers, body = answer or (200, {}, {"id": f"p-{payload['reference']}"})
        encoded = json.dumps(body).encode()
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", **headers}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(encoded)))
        self.end_headers()
        self.wfile.write(encoded)

    def log_message(self, *args):
        pass


@pytest.fixture
def sink(settings):
    server = Sink()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    settings.SMS_BACKEND = "campaigns.backends.http.HttpBackend"
    settings.SMS_HTTP_URL = server.url
    settings.SMS_SEGMENTS_PER_SECOND = 10_000
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def start_workers():
    """Start real Celery worker processes (two pool processes each) on this test run's
    queue, sending to `sink` (or through the backend the `backend` settings name);
    `beat=True` adds the control worker, as deployed: one process
    on the control queue, with beat in it (sms_tick every second: sweeps, dispatch,
    campaign progress). Stopped after the test."""
    processes = []
    schedules = tempfile.TemporaryDirectory()

    def start(sink=None, *, count=2, limit=45, guard_ms=40, beat=False, backend=None):
        from django.conf import settings

        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "messaging_site.settings.test",
            "DATABASE_URL": _database_url(connection.settings_dict),
            "DATABASE_POOL": "off",
            **(
                backend
                or {"SMS_BACKEND": "campaigns.backends.http.HttpBackend", "SMS_HTTP_URL": sink.url}
            ),
            "SMS_SEGMENTS_PER_SECOND": str(limit),
            "SMS_RATE_GUARD_MS": str(guard_ms),
        }

        def worker(name: str, *options: str) -> None:
            command = [
                sys.executable, "-m", "celery", "-A", "messaging_site", "worker",
                "--loglevel", "WARNING", "--without-mingle", "--without-gossip",
                "--hostname", f"{name}-{uuid.uuid4().hex[:6]}@localhost", *options,
            ]  # fmt: skip
            processes.append(
                subprocess.Popen(
                    command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                )
            )

        for n in range(count):
            worker(f"sms{n}", "--concurrency", "2")
        if beat:
            # As deployed: the tick on its own queue, with its own worker (and beat in it).
            worker(
                "control",
                "--concurrency", "1",
                "--queues", settings.CELERY_CONTROL_QUEUE,
                "--beat", "--schedule", str(Path(schedules.name) / "beat"),
            )  # fmt: skip
        return processes

    yield start
    for process in processes:
        process.terminate()
    for process in processes:
        process.wait(timeout=20)
    schedules.cleanup()
