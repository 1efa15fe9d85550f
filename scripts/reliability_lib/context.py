"""What every scenario shares: the backing servers, the gateway, the environment of the
product's processes, and the table row a scenario returns."""

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import app
from .gateway import Gateway
from .procs import Postgres, Reaper, Redis, start_cpu_hogs, stop_processes
from .stack import Stack

LEASE_SECONDS = 120


@dataclass
class Row:
    scenario: str
    load: str
    lost: str = "-"
    duplicated: str = "-"
    windows: str = "-"
    recovery: str = "-"
    figures: str = ""
    verdict: str = "PASS"
    failures: list = field(default_factory=list)

    def goal(self, ok: bool, failure: str) -> None:
        """Note a goal; the row fails if any goal does."""
        if not ok:
            self.verdict = "FAIL"
            self.failures.append(failure)


@dataclass
class Context:
    base: Path
    logs: Path
    reaper: Reaper
    redis: Redis
    postgres: Postgres
    gateway: Gateway
    drain_timeout: float
    throttles: str
    hogs: int = 2  # busy-loop processes beside the product in the rate scenarios
    notes: list = field(default_factory=list)

    def env(self, throttles: str | None = None) -> dict:
        """The environment of every product process (and of the harness's Django)."""
        import os

        return {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": app.SETTINGS,
            "DEBUG": "0",
            "PYTHONUNBUFFERED": "1",
            "DATABASE_URL": self.postgres.url,
            "REDIS_URL": self.redis.url,
            "CELERY_QUEUE": "messaging",
            "CELERY_CONTROL_QUEUE": "messaging-control",
            "SMS_BACKEND": "campaigns.backends.http.HttpBackend",
            "SMS_HTTP_URL": self.gateway.url,
            "SMS_SEGMENTS_PER_SECOND": "45",
            "SMS_RETRY_BASE_SECONDS": "1",
            "THROTTLES": throttles or self.throttles,
        }

    def worker_env(self, throttles: str | None = None) -> dict:
        return {**self.env(throttles), "DATABASE_POOL": "off"}

    @contextlib.contextmanager
    def stack(self, workers: int, web: bool = False, warm: bool = True, throttles=None):
        """A fresh set of product processes on an empty broker, warmed up; afterwards
        nothing is left running (campaigns cancelled, processes stopped). `throttles`
        overrides --throttles for this stack."""
        self.gateway.clear()
        self.redis.flush()
        stack = Stack(
            env=self.worker_env(throttles),
            web_env=self.env(throttles),
            logs=self.logs,
            reaper=self.reaper,
        )
        try:
            stack.start(workers=workers, web=web)
            if warm:
                app.warm_up(4 * max(1, workers))
            yield stack
        finally:
            with contextlib.suppress(Exception):
                app.cancel_running()
            stack.stop()

    @contextlib.contextmanager
    def cpu_hogs(self, count: int = 2):
        hogs = start_cpu_hogs(count, self.logs, self.reaper)
        try:
            yield hogs
        finally:
            stop_processes(hogs)


def wait_until(moment: float) -> None:
    delay = moment - time.monotonic()
    if delay > 0:
        time.sleep(delay)


def fmt_s(value: float | None) -> str:
    return "never" if value is None else f"{value:.2f} s"
