"""Two machines on this one, for tests that kill a machine (tests/test_two_hosts.py).

Each host is a network namespace (`ip netns`) with a veth pair whose other end is a port of
one bridge in the root namespace, all on a /24 of 198.18.0.0/15 (RFC 2544's benchmarking
range, which no real network routes) that no route of this machine overlaps:

    root namespace: bridge .1   PostgreSQL 127.0.0.1:5432, Redis 127.0.0.1:6379 (forwarded
                                to .1), the recording SMS gateway on .1, dnsmasq, HAProxy
    host a: eth0 .2             what the test starts there (`Host.spawn`)
    host b: eth0 .3

PostgreSQL and Redis listen on the root namespace's loopback only, which no other namespace
can reach; a forwarder process of the test's own relays .1:5432 and .1:6379 to them (it
needs nothing installed: no iptables, no socat). Its connections upstream come from
127.0.0.1, so PostgreSQL's `trust` for local TCP applies. When a host dies they stay open,
as a server's connections from a dead machine stay open until TCP keepalive notices (two
hours and more by default); here nothing notices, since the server's peer is the live
forwarder, until the test ends.

Killing a host (`Host.kill`) takes both ends of its link down first and then SIGKILLs every
process in its namespace: killed first, its kernel would still send FIN or RST for every
socket and tell each peer at once, which a machine that loses power never does.

Names carry the test process's pid (`thost<pid>a`, namespace `twohosts-<pid>-a`), so a later
run finds what a crashed one left and removes it (`remove_leftovers`). Needs root and
iproute2.
"""

import asyncio
import contextlib
import ipaddress
import json
import multiprocessing
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from reliability_lib import gateway as recording  # noqa: E402 - scripts/ is on the path now
from reliability_lib import (  # noqa: E402
    metrics,  # noqa: F401 - for the tests: windows, delivery
    procs,
)

NAMESPACE_PREFIX = "twohosts-"
LINK_PREFIX = "thost"
PROXY_CONFIG = ROOT / "deploy" / "proxy" / "haproxy.cfg"
BENCHMARK_NETWORK = ipaddress.IPv4Network("198.18.0.0/15")
STOP_GRACE_SECONDS = 10
IP = shutil.which("ip") or "/usr/sbin/ip"
SS = shutil.which("ss") or "/usr/bin/ss"  # iproute2's too


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([IP, *args], check=check, capture_output=True, text=True)


def missing_requirements() -> list[str]:
    """What this machine lacks for `Network`: empty when it can run."""
    missing = []
    if os.geteuid() != 0:
        missing.append("root (network namespaces)")
    missing += [tool for tool in ("ip", "haproxy", "dnsmasq") if shutil.which(tool) is None]
    return missing


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _namespace_pids(namespace: str) -> list[int]:
    listed = ip("netns", "pids", namespace, check=False).stdout.split()
    return [int(pid) for pid in listed if pid.isdigit()]


def _kill_namespace(namespace: str) -> None:
    """SIGKILL everything in it, until nothing is left (a dying parent may fork once more)."""
    deadline = time.monotonic() + 10
    while (pids := _namespace_pids(namespace)) and time.monotonic() < deadline:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)


def remove_leftovers() -> list[str]:
    """Namespaces and links of runs whose process is gone (a crash, a SIGKILL of pytest);
    a run still going on beside this one keeps its own. Returns what was removed."""
    removed = []
    for line in ip("netns", "list").stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        found = re.fullmatch(rf"{NAMESPACE_PREFIX}(\d+)-\w+", name)
        if found and not _alive(int(found.group(1))):
            _kill_namespace(name)
            ip("netns", "del", name, check=False)
            removed.append(name)
    for link in json.loads(ip("-j", "link", "show").stdout or "[]"):
        found = re.fullmatch(rf"{LINK_PREFIX}(\d+)[a-z]+", link.get("ifname", ""))
        # A pair goes with either end: the second end's delete then finds nothing.
        if (
            found
            and not _alive(int(found.group(1)))
            and ip("link", "del", link["ifname"], check=False).returncode == 0
        ):
            removed.append(link["ifname"])
    return removed


def free_subnet(seed: int) -> ipaddress.IPv4Network:
    """A /24 of the benchmarking range that overlaps no address or route here, starting
    from one picked by `seed` so that two runs at once rarely even try the same one."""
    taken: list[ipaddress.IPv4Network] = []
    for entry in json.loads(ip("-j", "-4", "route", "show", "table", "all").stdout or "[]"):
        destination = entry.get("dst", "")
        if destination and destination != "default":
            taken.append(ipaddress.IPv4Network(destination, strict=False))
    for link in json.loads(ip("-j", "-4", "addr", "show").stdout or "[]"):
        for address in link.get("addr_info", []):
            taken.append(
                ipaddress.IPv4Network(f"{address['local']}/{address['prefixlen']}", strict=False)
            )
    subnets = list(BENCHMARK_NETWORK.subnets(new_prefix=24))
    for offset in range(len(subnets)):
        subnet = subnets[(seed + offset) % len(subnets)]
        if not any(subnet.overlaps(other) for other in taken):
            return subnet
    raise RuntimeError(f"every /24 of {BENCHMARK_NETWORK} is in use here")


@dataclass
class Host:
    """One namespace: its address, its processes, and how it dies."""

    name: str
    namespace: str
    address: str
    link: str  # the root namespace's end of its veth pair, a port of the bridge
    processes: list[subprocess.Popen] = field(default_factory=list)

    def spawn(self, command: list[str], log: Path, env: dict) -> subprocess.Popen:
        """`command` run inside the namespace, in a session of its own (so the terminal's
        Ctrl-C reaches only pytest, which then stops everything)."""
        process = procs.spawn([IP, "netns", "exec", self.namespace, *command], log, env)
        self.processes.append(process)
        return process

    def pids(self) -> list[int]:
        return _namespace_pids(self.namespace)

    def connections(self, port: int, samples: int = 3) -> int:
        """Established TCP connections to `port` in the namespace, as its kernel counts
        them: the fewest of a few looks, so that a health check's connection of a few
        milliseconds is not taken for a client's."""
        counts = []
        for _ in range(samples):
            found = subprocess.run(
                [IP, "netns", "exec", self.namespace, SS, "-Htn", "state", "established",
                 f"( sport = :{port} )"],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            counts.append(len(found.stdout.splitlines()) if found.returncode == 0 else 0)
            time.sleep(0.02)
        return min(counts)

    def kill(self) -> float:
        """As if the machine lost power: no packet leaves it from now on, then every
        process in it dies. Returns the moment (monotonic) its link went down."""
        ip("link", "set", self.link, "down")
        ip("-n", self.namespace, "link", "set", "eth0", "down")
        killed = time.monotonic()
        _kill_namespace(self.namespace)
        for process in self.processes:
            process.wait()
        return killed

    def stop(self) -> None:
        """SIGTERM every process in it, SIGKILL what is left after the grace period."""
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        while self.pids() and time.monotonic() < deadline:
            time.sleep(0.1)
        _kill_namespace(self.namespace)
        for process in self.processes:
            process.wait()


class Network:
    """The bridge and two hosts on it; `remove()` takes everything down again."""

    def __init__(self, names: tuple[str, ...] = ("a", "b")):
        run = os.getpid()
        self.subnet = free_subnet(run)
        addresses = list(self.subnet.hosts())
        self.gateway_address = str(addresses[0])
        self.bridge = f"{LINK_PREFIX}{run}br"
        self.hosts = {
            name: Host(
                name=name,
                namespace=f"{NAMESPACE_PREFIX}{run}-{name}",
                address=str(addresses[index + 1]),
                link=f"{LINK_PREFIX}{run}{name}",
            )
            for index, name in enumerate(names)
        }

    def create(self) -> "Network":
        prefix = self.subnet.prefixlen
        ip("link", "add", self.bridge, "type", "bridge")
        ip("addr", "add", f"{self.gateway_address}/{prefix}", "dev", self.bridge)
        ip("link", "set", self.bridge, "up")
        for host in self.hosts.values():
            inner = f"{host.link}i"
            ip("netns", "add", host.namespace)
            ip("link", "add", host.link, "type", "veth", "peer", "name", inner)
            ip("link", "set", inner, "netns", host.namespace)
            ip("-n", host.namespace, "link", "set", inner, "name", "eth0")
            ip("-n", host.namespace, "addr", "add", f"{host.address}/{prefix}", "dev", "eth0")
            ip("-n", host.namespace, "link", "set", "eth0", "up")
            ip("-n", host.namespace, "link", "set", "lo", "up")
            ip("link", "set", host.link, "master", self.bridge)
            ip("link", "set", host.link, "up")
        return self

    def remove(self) -> None:
        """Every process in the namespaces, the namespaces (their veth ends go with them,
        and each pair with its end), the bridge. Safe to call on a half-made network."""
        for host in self.hosts.values():
            if ip("netns", "pids", host.namespace, check=False).returncode == 0:
                host.stop()
                ip("netns", "del", host.namespace, check=False)
            ip("link", "del", host.link, check=False)
        ip("link", "del", self.bridge, check=False)


@contextlib.contextmanager
def network(names: tuple[str, ...] = ("a", "b")) -> Iterator[Network]:
    remove_leftovers()
    made = Network(names)
    try:
        yield made.create()
    finally:
        made.remove()


# --- the forwarder: the root namespace's loopback servers, reachable from the hosts ---------


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            # A peer that stops reading (a dead host) holds this pump, not our memory.
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()


async def _relay(target: tuple[str, int], relays: dict, reader, writer) -> None:
    try:
        upstream_reader, upstream_writer = await asyncio.open_connection(*target)
    except OSError:
        writer.close()
        return
    task = asyncio.current_task()
    relays[task] = (writer, upstream_writer)
    try:
        await asyncio.gather(_pump(reader, upstream_writer), _pump(upstream_reader, writer))
    finally:
        relays.pop(task, None)


async def _forwarding(control, listen: str, targets: dict[int, tuple[str, int]]) -> None:
    relays: dict[asyncio.Task, tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = {}
    servers = []
    for port, target in targets.items():
        servers.append(
            await asyncio.start_server(partial(_relay, target, relays), listen, port, backlog=512)
        )
    control.send("listening")
    # Until the test says stop, or dies (the pipe's other end closes with it).
    with contextlib.suppress(EOFError, OSError):
        await asyncio.to_thread(control.recv)
    for server in servers:
        server.close()
    # Every relay ends on its own once its sockets close, rather than being cancelled by
    # asyncio.run on the way out (which Python 3.12.1's streams report as an error).
    for writers in list(relays.values()):
        for writer in writers:
            writer.transport.abort()
    if relays:
        await asyncio.wait(list(relays), timeout=2)


def _forward(control, listen: str, targets: dict[int, tuple[str, int]]) -> None:
    asyncio.run(_forwarding(control, listen, targets))


class Forwarder:
    """`listen:port` -> `target` for each port, in a process of its own: its own CPU
    scheduling and its own GIL, so the test's work never delays a host's round trips."""

    def __init__(self, listen: str, targets: dict[int, tuple[str, int]]):
        context = multiprocessing.get_context("spawn")
        self.control, child = context.Pipe()
        self.process = context.Process(target=_forward, args=(child, listen, targets), daemon=True)
        self.process.start()
        deadline = time.monotonic() + 30
        while not self.control.poll(0.1):
            if not self.process.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the forwarder did not listen on {listen}")
        self.control.recv()

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.control.send("stop")
        self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


# --- the SMS gateway, on the bridge ---------------------------------------------------------


def gateway(address: str) -> recording.Gateway:
    """The reliability harness's recording gateway (HttpBackend's protocol, each arrival
    stamped by the kernel on the monotonic clock), on an address of the bridge: the hosts
    cannot reach 127.0.0.1 of the root namespace."""
    return recording.Gateway(address=address)


# --- HAProxy in front of the hosts, finding them by DNS as in Docker ------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_dns_port() -> int:
    """A port free for both UDP and TCP: dnsmasq listens on both, and fails if either is
    taken."""
    while True:
        with (
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp,
            socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp,
        ):
            udp.bind(("127.0.0.1", 0))
            port = udp.getsockname()[1]
            try:
                tcp.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


@contextlib.contextmanager
def _running(command: list[str], log: Path, env: dict | None = None) -> Iterator[subprocess.Popen]:
    with open(log, "w") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env)
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def proxy(addresses: list[str], port: int, scratch: Path) -> Iterator[str]:
    """deploy/proxy/haproxy.cfg in the root namespace, with dnsmasq answering its service
    name `web` with every host's address, as tests/test_proxy.py runs it; yields the
    address clients use. The hosts' web servers listen on `port`."""
    hosts_file = scratch / "dns-hosts"
    hosts_file.write_text("".join(f"{address} web\n" for address in addresses))
    dns_port, proxy_port = free_dns_port(), free_port()
    dnsmasq = [
        shutil.which("dnsmasq") or "dnsmasq", "--keep-in-foreground", "--log-facility=-",
        "--conf-file=/dev/null", "--pid-file=", "--user=root", "--bind-interfaces",
        "--listen-address=127.0.0.1", f"--port={dns_port}", "--no-resolv", "--no-hosts",
        f"--addn-hosts={hosts_file}",
    ]  # fmt: skip
    env = {
        **os.environ,
        "WEB_SERVICE": f"web:{port}",
        "DNS_SERVER": f"127.0.0.1:{dns_port}",
        "PROXY_BIND": f"127.0.0.1:{proxy_port}",
        "CHECK_HOST": "localhost",
    }
    haproxy = [shutil.which("haproxy") or "haproxy", "-W", "-db", "-f", str(PROXY_CONFIG)]
    with (
        _running(dnsmasq, scratch / "dnsmasq.log") as resolver,
        _running(haproxy, scratch / "haproxy.log", env) as balancer,
    ):
        time.sleep(0.2)
        for process, log in ((resolver, "dnsmasq.log"), (balancer, "haproxy.log")):
            if process.poll() is not None:
                raise RuntimeError(f"{log}: {(scratch / log).read_text()}")
        yield f"127.0.0.1:{proxy_port}"


def healthy(address: str) -> bool:
    """`/healthz` at `address` answers 200 (asked as `localhost`, one of the test settings'
    ALLOWED_HOSTS, as the proxy's checks ask)."""
    request = urllib.request.Request(f"http://{address}/healthz", headers={"Host": "localhost"})
    try:
        with urllib.request.urlopen(request, timeout=2) as response:  # noqa: S310 - http only
            return response.status == 200
    except OSError:
        return False


def servers_up(log: Path) -> int:
    """How many of the proxy's servers its log last called UP: it logs each change of
    state ("Server replicas/web1 is UP", "... is DOWN, reason: ...")."""
    text = log.read_text(errors="replace") if log.exists() else ""
    states = dict(re.findall(r"Server replicas/(web\d+)(?: \('web'\))? is (UP|DOWN)", text))
    return sum(state == "UP" for state in states.values())


def wait_for(predicate, timeout: float, what: str, interval: float = 0.1):
    """Poll until `predicate()` is truthy; its value, or RuntimeError after `timeout`."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)
    return value


def celery_ready(log: Path, hostname: str) -> bool:
    """Celery logs `<hostname>@<machine> ready.` once it consumes."""
    text = log.read_text(errors="replace") if log.exists() else ""
    return any(f"{hostname}@" in line and "ready." in line for line in text.splitlines())
