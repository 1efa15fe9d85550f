"""The product's own processes, started as `make run` starts them (scripts/run.py):
Daphne through scripts/serve.py (`python -m messaging_site.server`), Celery send workers
(prefork, two pool processes each), the control worker on CELERY_CONTROL_QUEUE, and beat.
"""

import itertools
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .procs import PYTHON, ROOT, Reaper, free_port, kill_group, spawn, stop_processes, wait_for

sys.path.insert(0, str(ROOT / "scripts"))
from serve import start_web  # scripts/serve.py, as scripts/run.py uses it

CELERY = [PYTHON, "-m", "celery", "-A", "messaging_site"]
READY_TIMEOUT = 60
_serials = itertools.count(1)


@dataclass
class Worker:
    name: str
    log: Path
    process: subprocess.Popen | None = None
    starts: int = 0


@dataclass
class Stack:
    """Daphne (optional), `workers` send workers, the control worker and beat. Daphne
    gets `web_env` (its database pool on), the workers `env` (`DATABASE_POOL=off`)."""

    env: dict
    web_env: dict
    logs: Path
    reaper: Reaper
    workers: list[Worker] = field(default_factory=list)
    others: list[subprocess.Popen] = field(default_factory=list)
    web_port: int | None = None
    serial: int = 0

    def start(self, workers: int, web: bool = False) -> "Stack":
        """Each stack's processes log to files of their own: `<serial>-<name>.log`."""
        self.serial = next(_serials)
        self.reaper.add(self.stop)
        if web:
            self.start_web()
        self.workers = [Worker(f"send{n}", self.log(f"send{n}")) for n in range(workers)]
        for worker in self.workers:
            self.start_worker(worker)
        self.start_control()
        for worker in self.workers:
            self.wait_ready(worker)
        return self

    def start_web(self) -> None:
        self.web_port = free_port()
        with open(self.log("daphne"), "ab") as log:
            self.others += start_web(
                "127.0.0.1", self.web_port, 1, self.web_env,
                start_new_session=True, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        wait_for(self.web_healthy, READY_TIMEOUT, 0.2, "Daphne's /healthz")

    def log(self, name: str) -> Path:
        return self.logs / f"{self.serial:02d}-{name}.log"

    def web_healthy(self) -> bool:
        import requests

        try:
            return requests.get(f"{self.base_url}/healthz", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def start_worker(self, worker: Worker) -> None:
        worker.starts += 1
        command = [*CELERY, "worker", "--loglevel", "INFO", "--concurrency", "2"]
        command += ["--hostname", f"{worker.name}-{worker.starts}@%h"]
        worker.process = spawn(command, worker.log, self.env)

    def wait_ready(self, worker: Worker) -> None:
        """Celery logs `<hostname> ready.` once it consumes."""
        marker = f"{worker.name}-{worker.starts}@"

        def ready() -> bool:
            text = worker.log.read_text(errors="replace")
            return any(marker in line and "ready." in line for line in text.splitlines())

        wait_for(ready, READY_TIMEOUT, 0.1, f"worker {worker.name} to be ready")

    def start_control(self) -> None:
        control_queue = self.env["CELERY_CONTROL_QUEUE"]
        control = [*CELERY, "worker", "--loglevel", "INFO", "--queues", control_queue]
        control += ["--concurrency", "1", "--hostname", "control@%h"]
        schedule = self.logs / f"{self.serial:02d}-celerybeat-schedule"
        beat = [*CELERY, "beat", "--loglevel", "INFO", "--schedule", str(schedule)]
        self.others.append(spawn(control, self.log("control"), self.env))
        self.others.append(spawn(beat, self.log("beat"), self.env))

    def kill_worker(self, index: int) -> None:
        """SIGKILL the worker's whole process group: its main process and pool children."""
        worker = self.workers[index]
        kill_group(worker.process)
        worker.process.wait()

    def restart_worker(self, index: int, wait: bool = False) -> None:
        self.start_worker(self.workers[index])
        if wait:
            self.wait_ready(self.workers[index])

    def stop(self) -> None:
        processes = [w.process for w in self.workers if w.process is not None] + self.others
        stop_processes(processes)
        self.workers, self.others = [], []
        self.reaper.remove(self.stop)
