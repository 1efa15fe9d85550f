#!/usr/bin/env python
"""SMS throughput against the global limit, through real Celery workers and a local sink.

Run by hand, never by the test suite:

    .venv/bin/python bench/sms_rate.py                    # 2,000+ segments, 2 workers
    .venv/bin/python bench/sms_rate.py --segments 4000 --workers 3 --launch-size 100000

It creates (or reuses) the database `messaging_bench_sms`, migrates it, starts an HTTP
sink on localhost that records when each request arrives (keep-alive, answers 200 at
once), starts N worker processes (prefork, concurrency 2 each) on a queue and Redis
prefix of its own, warms them with 20 unmeasured texts, then launches one campaign of
`--segments` segments (`--segments-per-message` 1, 2 or 3; default 3) and reports:

- achieved segments per second from the first to the last arrival, and utilisation of
  the limit;
- the most segments that arrived in any one-second window (must be <= the limit);
- each attempt's provider latency and limiter wait are in the workers' log
  (`--worker-log`);
- the time and peak Python memory to create and to launch a campaign of
  `--launch-size` recipients (which is then cancelled, sending nothing).
"""

import argparse
import json
import os
import subprocess
import sys
import threading
import time
import tracemalloc
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DB_NAME = "messaging_bench_sms"
RUN_ID = f"bench{os.getpid()}"


class Sink(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), SinkHandler)
        self.arrivals: list[tuple[float, int, str]] = []
        self.lock = threading.Lock()


class SinkHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        arrived = time.time()
        payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with self.server.lock:
            self.server.arrivals.append((arrived, payload["segments"], payload["reference"]))
        body = json.dumps({"id": f"sink-{payload['reference']}"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def number(n: int) -> str:
    """A valid US number for each n < 800,000 (exchanges 200-279 of area code 415)."""
    return f"+1415{200 + n // 10_000:03d}{n % 10_000:04d}"


def max_in_any_window(arrivals, width=1.0):
    arrivals = sorted(arrivals)
    worst = start = total = 0
    for arrived, segments in arrivals:
        total += segments
        while arrivals[start][0] <= arrived - width:
            total -= arrivals[start][1]
            start += 1
        worst = max(worst, total)
    return worst


def prepare_database():
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB_NAME]).fetchone():
            conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=ENV, check=True
    )


ENV = {
    **os.environ,
    "DJANGO_SETTINGS_MODULE": "messaging_site.settings.dev",
    "DEBUG": "0",
    "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DB_NAME}",
    "DATABASE_POOL": "off",
    "REDIS_KEY_PREFIX": RUN_ID,
    "CELERY_QUEUE": RUN_ID,
    "SMS_BACKEND": "campaigns.backends.http.HttpBackend",
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--segments", type=int, default=2000, help="at least this many")
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument("--concurrency", type=int, default=2, help="pool size per worker")
    parser.add_argument("--launch-size", type=int, default=100_000)
    parser.add_argument("--worker-log", default="sms_rate_workers.log")
    parser.add_argument("--segments-per-message", type=int, choices=[1, 2, 3], default=3)
    parser.add_argument(
        "--mixed",
        action="store_true",
        help="interleave 1-, 2- and 3-segment texts instead of one campaign",
    )
    args = parser.parse_args()

    sink = Sink()
    threading.Thread(target=sink.serve_forever, args=(0.05,), daemon=True).start()
    ENV["SMS_HTTP_URL"] = f"http://127.0.0.1:{sink.server_address[1]}/sms"
    os.environ.update(ENV)
    prepare_database()

    import django

    django.setup()
    from django.conf import settings
    from django.db.models import Count

    from accounts.models import User
    from campaigns import services
    from campaigns.models import SmsMessage

    limit = settings.SMS_SEGMENTS_PER_SECOND
    actor, _ = User.objects.get_or_create(username="bench-marketer")
    SmsMessage.objects.all().delete()

    # The launch-size campaign first: creation and launch cost, then cancelled.
    numbers = (number(n) for n in range(args.launch_size))
    tracemalloc.start()
    started = time.perf_counter()
    big = services.campaign_create(
        actor=actor, name="launch-size", message="Hello " * 30, recipients=list(numbers)
    )
    create_seconds = time.perf_counter() - started
    _, create_peak = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    started = time.perf_counter()
    services.campaign_launch(campaign=big)
    launch_seconds = time.perf_counter() - started
    _, launch_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    services.campaign_cancel(campaign=big)

    # One line per attempt, with its latency and how long it waited for the limiter.
    worker_log = open(args.worker_log, "w")  # noqa: SIM115 - closed after the run
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "messaging_site",
                "worker",
                "--concurrency",
                str(args.concurrency),
                "--hostname",
                f"bench{n}@%h",
                "--loglevel",
                "INFO",
                "--without-mingle",
                "--without-gossip",
            ],
            cwd=ROOT,
            env=ENV,
            stdout=subprocess.DEVNULL,
            stderr=worker_log,
        )
        for n in range(args.workers)
    ]
    try:
        # Warm the workers (database connections, the provider connection) with a few
        # texts that are not measured, as a running service would be.
        services.sms_send(
            actor=actor, message="warm-up", to=[number(700_000 + n) for n in range(20)]
        )
        while SmsMessage.objects.filter(status__in=["queued", "sending"]).exists():
            time.sleep(0.2)
        warm = {
            str(pk) for pk in SmsMessage.objects.filter(campaign=None).values_list("pk", flat=True)
        }
        body = {1: "Sale today", 2: "Sale " + "x" * 200, 3: "Sale " + "y" * 400}[
            args.segments_per_message
        ]
        count = -(-args.segments // args.segments_per_message)
        total = count * args.segments_per_message
        campaign = services.campaign_create(
            actor=actor,
            name="rate",
            message=body,
            recipients=[number(args.launch_size + n) for n in range(count)],
        )
        services.campaign_launch(campaign=campaign)
        print(
            f"sending {total} segments in {count} messages through "
            f"{args.workers} workers x {args.concurrency} at {limit}/s ...",
            flush=True,
        )
        while SmsMessage.objects.filter(status__in=["queued", "sending"]).exists():
            time.sleep(0.5)
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(timeout=30)
        worker_log.close()

    measured = [row for row in sink.arrivals if row[2] not in warm]
    arrivals = sorted((arrived, segments) for arrived, segments, _ in measured)
    references = [reference for _, _, reference in measured]
    span = arrivals[-1][0] - arrivals[0][0]
    # Segments that arrived after the first one, over the time they took: the rate
    # sustained while a backlog existed.
    rate = (sum(s for _, s in arrivals) - arrivals[0][1]) / span
    statuses = dict(
        SmsMessage.objects.exclude(campaign__name="launch-size")
        .exclude(pk__in=[int(pk) for pk in warm])
        .values_list("status")
        .annotate(n=Count("id"))
    )
    print()
    print("| measure | value |")
    print("|---|---|")
    print(f"| messages / segments sent | {len(arrivals)} / {sum(s for _, s in arrivals)} |")
    print(f"| duplicates at the provider | {len(references) - len(set(references))} |")
    print(f"| statuses | {statuses} |")
    print(f"| first to last arrival | {span:.2f} s |")
    print(f"| achieved rate | {rate:.2f} segments/s |")
    print(f"| utilisation of {limit}/s | {100 * rate / limit:.1f}% |")
    print(f"| most segments in any 1 s window | {max_in_any_window(arrivals)} |")
    print(
        f"| create {args.launch_size:,}-recipient campaign | {create_seconds:.2f} s, "
        f"peak {create_peak / 2**20:.1f} MiB |"
    )
    print(f"| launch it | {launch_seconds * 1000:.1f} ms, peak {launch_peak / 2**10:.1f} KiB |")


if __name__ == "__main__":
    main()
