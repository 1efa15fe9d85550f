"""A real Celery worker process comes up on the broker and on the test run's own queue."""

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from messaging_site.celery import app

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def worker():
    hostname = f"test-{uuid.uuid4().hex[:8]}@localhost"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "messaging_site.settings.test"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "messaging_site",
            "worker",
            "--pool",
            "solo",
            "--hostname",
            hostname,
            "--loglevel",
            "WARNING",
            "--without-mingle",
            "--without-gossip",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    yield hostname
    process.terminate()
    process.wait(timeout=15)


def test_worker_answers_on_the_broker_and_consumes_the_test_queue(worker):
    deadline = time.monotonic() + 30
    replies = []
    while time.monotonic() < deadline and not replies:
        replies = app.control.ping(destination=[worker], timeout=1)
    assert replies, "the worker never answered a ping"
    queues = app.control.inspect(destination=[worker], timeout=5).active_queues()
    assert [queue["name"] for queue in queues[worker]] == [app.conf.task_default_queue]
