"""A real Kannel for tests: Debian's bearerbox and smsbox run with deploy/kannel/kannel.conf,
and `fakesmsc` (kannel-extras) as the SMS centre, on free ports of their own.

`arrivals` holds every part the SMS centre receives, stamped as its line is read (fakesmsc
writes one line per part, unbuffered). Inbound texts come from a second fake SMS centre
link that only ever receives (`allowed-smsc-id`), one fakesmsc run per text.
"""

import contextlib
import os
import shutil
import socket
import string
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BEARERBOX = "/usr/sbin/bearerbox"
SMSBOX = "/usr/sbin/smsbox"
FAKESMSC = "/usr/lib/kannel/test/fakesmsc"
# Each line fakesmsc prints, stamped with the time it was read.
STAMP = "import sys, time\nfor line in sys.stdin:\n    print(f'{time.time():.6f} {line}', end='')"


def _ahead() -> None:
    """The SMS centre and its clock run ahead of everything else here, as on a machine of
    their own: on two busy cores a process waiting for a CPU stamps parts late, in bunches
    that no gateway sent. Only where allowed (root); elsewhere they run as they are."""
    with contextlib.suppress(OSError):
        os.nice(-10)


# Kannel's boxes exchange small messages over TCP without TCP_NODELAY: with delivery
# reports on, a text written just behind the acknowledgement of a report waits for the
# peer's delayed ACK, 40 ms, far past the limiter's guard (bench/sms_kannel.py). On an
# address whose route acknowledges at once (`quickack 1`, set by scripts/provision.sh)
# the boxes pass texts on in 1 to 6 ms. README, "SMS gateways".
QUICK_BOX_HOST = "127.0.0.2"


def box_host() -> str:
    """QUICK_BOX_HOST where its route says quickack, else the plain loopback."""
    ip = shutil.which("ip")
    if ip is None:
        return "127.0.0.1"
    try:
        routes = subprocess.run(
            [ip, "route", "show", "table", "local", QUICK_BOX_HOST],
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return "127.0.0.1"
    return QUICK_BOX_HOST if "quickack 1" in routes else "127.0.0.1"


def available() -> bool:
    return all(Path(path).exists() for path in (BEARERBOX, SMSBOX, FAKESMSC))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port}")


@dataclass(frozen=True)
class Part:
    """One part as the SMS centre got it: `kind` is fakesmsc's word for it (text, data,
    ucs-2 or udh, the last for a part of a concatenated text), `data` its bytes (UTF-16
    for UCS-2, Kannel's UTF-8 otherwise)."""

    at: float
    sender: str
    receiver: str
    kind: str
    udh: bytes
    data: bytes

    @property
    def total(self) -> int:
        """How many parts its text has (the concatenation header), 1 if none."""
        return self.udh[4] if len(self.udh) >= 6 else 1

    @property
    def number(self) -> int:
        return self.udh[5] if len(self.udh) >= 6 else 1


def _parse(line: str, at: float) -> Part | None:
    _, found, rest = line.partition("Got message ")
    if not found:
        return None
    body = rest.split(": <", 1)[1].rsplit(">", 1)[0]
    sender, receiver, kind, payload = body.split(" ", 3)
    unquote = urllib.parse.unquote_to_bytes
    if kind == "udh":
        udh, _, data = payload.split(" ", 2)
        return Part(at, sender, receiver, kind, unquote(udh), unquote(data.replace("+", " ")))
    if kind == "text":
        return Part(at, sender, receiver, kind, b"", payload.encode())
    return Part(at, sender, receiver, kind, b"", unquote(payload.replace("+", " ")))


class Kannel:
    def __init__(self, directory: Path, *, callback_base_url: str, secret: str):
        self.directory = directory
        self.box_host = box_host()
        self.callback_base_url = callback_base_url
        self.secret = secret
        self.username, self.password = "messaging", "kannel-password"
        self.ports = {
            name: free_port() for name in ("admin", "smsbox", "sendsms", "smsc_mt", "smsc_mo")
        }
        self.arrivals: list[Part] = []
        self.lock = threading.Lock()
        self.processes: list[subprocess.Popen] = []

    @property
    def sendsms_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['sendsms']}/cgi-bin/sendsms"

    def _config(self) -> Path:
        smsc = self.directory / "smsc.conf"
        smsc.write_text(
            "group = smsc\nsmsc = fake\nsmsc-id = centre\n"
            f"port = {self.ports['smsc_mt']}\nconnect-allow-ip = 127.0.0.1\n\n"
            # Inbound only: texts with no smsc-id (all of ours) are never routed here.
            "group = smsc\nsmsc = fake\nsmsc-id = handsets\nallowed-smsc-id = handsets\n"
            f"port = {self.ports['smsc_mo']}\nconnect-allow-ip = 127.0.0.1\n"
        )
        template = string.Template((ROOT / "deploy" / "kannel" / "kannel.conf").read_text())
        config = self.directory / "kannel.conf"
        config.write_text(
            template.substitute(
                KANNEL_ADMIN_PORT=self.ports["admin"],
                KANNEL_BOX_HOST=self.box_host,
                KANNEL_ADMIN_PASSWORD="admin-password",
                KANNEL_SMSBOX_PORT=self.ports["smsbox"],
                KANNEL_SENDSMS_PORT=self.ports["sendsms"],
                KANNEL_LOG_DIR=self.directory,
                KANNEL_SMSC_CONF=smsc,
                KANNEL_USERNAME=self.username,
                KANNEL_PASSWORD=self.password,
                KANNEL_SECRET=self.secret,
                CALLBACK_BASE_URL=self.callback_base_url,
            )
        )
        return config

    def _spawn(self, *command: str, log: str) -> subprocess.Popen:
        process = subprocess.Popen(
            command,
            cwd=self.directory,
            stdout=(self.directory / log).open("wb"),
            stderr=subprocess.STDOUT,
        )
        self.processes.append(process)
        return process

    def start(self) -> "Kannel":
        config = self._config()
        self._spawn(BEARERBOX, "-v", "1", str(config), log="bearerbox.out")
        wait_port(self.ports["smsbox"])
        wait_port(self.ports["smsc_mt"])
        # No texts of its own (-m 0): it only receives, and prints each part.
        port = str(self.ports["smsc_mt"])
        centre = subprocess.Popen(
            [FAKESMSC, "-H", "127.0.0.1", "-r", port, "-m", "0", "x y text -"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            preexec_fn=_ahead,
        )  # fmt: skip
        # Stamped by a process of its own: a thread of the test's process waits for the
        # GIL behind the live server's requests, and would stamp parts in bunches.
        stamper = subprocess.Popen(
            [sys.executable, "-u", "-c", STAMP],
            stdin=centre.stdout,
            stdout=subprocess.PIPE,
            preexec_fn=_ahead,
        )
        assert centre.stdout is not None
        centre.stdout.close()
        self.processes += [centre, stamper]
        threading.Thread(target=self._read, args=(stamper,), daemon=True).start()
        self._spawn(SMSBOX, "-v", "1", str(config), log="smsbox.out")
        wait_port(self.ports["sendsms"])
        self._wait_ready()
        self._warm_up()
        return self

    def _warm_up(self) -> None:
        """Kannel takes most of a second to pass on its first text (once per start); the
        tests measure what follows."""
        query = urllib.parse.urlencode(
            {"username": self.username, "password": self.password, "to": "+10000000000"}
            | {"from": "warm-up", "text": "warm-up"}
        )
        urllib.request.urlopen(f"{self.sendsms_url}?{query}", timeout=10).read()  # noqa: S310
        deadline = time.monotonic() + 10
        while not self.parts() and time.monotonic() < deadline:
            time.sleep(0.02)
        with self.lock:
            self.arrivals.clear()

    def _wait_ready(self, timeout: float = 15.0) -> None:
        """Until bearerbox says the SMS centre link is online."""
        url = f"http://127.0.0.1:{self.ports['admin']}/status.txt?password=admin-password"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = urllib.request.urlopen(url, timeout=2).read().decode()
            if "centre" in status and "online" in status.split("centre", 1)[1].split("\n")[0]:
                return
            time.sleep(0.1)
        raise TimeoutError(f"the fake SMS centre never came online:\n{status}")

    def _read(self, process: subprocess.Popen) -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            stamp, _, line = raw.decode(errors="replace").rstrip("\n").partition(" ")
            part = _parse(line, float(stamp))
            if part is not None:
                with self.lock:
                    self.arrivals.append(part)

    def parts(self) -> list[Part]:
        with self.lock:
            return list(self.arrivals)

    def handset_sends(self, sender: str, text: str, to: str = "12345") -> None:
        """A text from a phone, through the inbound SMS centre link."""
        process = subprocess.Popen(
            [
                FAKESMSC,
                "-H",
                "127.0.0.1",
                "-r",
                str(self.ports["smsc_mo"]),
                "-i",
                "0",
                "-m",
                "1",
                f"{sender} {to} text {text}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.processes.append(process)

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(self.directory, ignore_errors=True)
