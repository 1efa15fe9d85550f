"""Locust users for bench/rest_send.py: each posts about one message a second to its room
with its own token (REST, `POST /api/conversations/{id}/messages/`).

Users are Locust's FastHttpUser (geventhttpclient): with the requests-based HttpUser the
client's own overhead added about 2 ms to every latency it measured (p99 17.9 to 23.7 ms
against 15.4 to 22.2 ms, same server, bench/results/rest_send.txt).

Waits are Poisson (exponential, mean 1 s), so 100 users make a Poisson stream of 100
requests a second. `constant_throughput(1)` keeps every user on the phase it was spawned
with, and Locust spawns them all in the same instant: that was 100 requests at once,
every second, and a p50 of 300 ms that measured the burst, not the server.

Texts (BENCH_TEXT): `plain`, or `formatted`, one of the same length with Markdown (strong,
inline code, a link) and two mentions of members of the room, as bench/send_formatting.py
sends.
"""

import csv
import itertools
import json
import os
import time
import uuid

from locust import FastHttpUser, events, poisson, task

ACCOUNTS = itertools.cycle(json.loads(open(os.environ["BENCH_ACCOUNTS"]).read()))  # noqa: SIM115
PLAIN = "Morning all, the release goes out at three and the notes are on the usual page ok"
FORMATTED = "Morning @{0} @{1}, the **release** goes out at `3pm`, notes: https://example.com/n"
FORMATTING = os.environ.get("BENCH_TEXT", "plain") == "formatted"


# Every request's start time and latency, for bench/rest_send.py to take percentiles over
# the steady state (Locust's own percentiles include the first seconds, when 100 users
# open their connections at once).
SAMPLES = []


@events.request.add_listener
def record(request_type, name, response_time, exception, **kwargs):
    SAMPLES.append((time.time() - response_time / 1000, response_time, exception is None))


@events.quitting.add_listener
def dump(environment, **kwargs):
    path = os.environ.get("BENCH_SAMPLES")
    if path:
        with open(path, "w", newline="") as file:
            csv.writer(file).writerows(SAMPLES)


class Sender(FastHttpUser):
    wait_time = poisson(1)

    def on_start(self):
        self.room, token, members = next(ACCOUNTS)
        self.headers = {"Authorization": f"Token {token}"}
        self.text = FORMATTED.format(*members) if FORMATTING else PLAIN

    @task
    def send(self):
        self.client.post(
            f"/api/conversations/{self.room}/messages/",
            json={"text": self.text, "client_id": uuid.uuid4().hex},
            name="POST /api/conversations/{id}/messages/",
            headers=self.headers,
        )
