"""Locust users for bench/rest_send.py: each posts one message a second to its room, with
its own token (REST, `POST /api/conversations/{id}/messages/`)."""

import itertools
import json
import os
import uuid

from locust import HttpUser, constant_throughput, task

ACCOUNTS = itertools.cycle(json.loads(open(os.environ["BENCH_ACCOUNTS"]).read()))  # noqa: SIM115


class Sender(HttpUser):
    wait_time = constant_throughput(1)

    def on_start(self):
        self.room, token = next(ACCOUNTS)
        self.client.headers["Authorization"] = f"Token {token}"

    @task
    def send(self):
        self.client.post(
            f"/api/conversations/{self.room}/messages/",
            json={"text": "load test message", "client_id": uuid.uuid4().hex},
            name="POST /api/conversations/{id}/messages/",
        )
