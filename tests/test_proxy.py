"""deploy/proxy/haproxy.cfg, the proxy of docker-compose.yml, in front of two real Daphne
replicas that it finds by DNS, as it finds them in Docker: here dnsmasq answers the name
`web` with two loopback addresses, one per replica. Needs Debian's haproxy and dnsmasq
(`apt-get install haproxy dnsmasq-base`; .ci/run installs them)."""

import asyncio
import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
import websockets
from django.db import connection

from chat import memberships, services
from conftest import ROOT, _daphne, _free_port, _stop

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CONFIG = ROOT / "deploy" / "proxy" / "haproxy.cfg"
REPLICAS = ("127.0.0.2", "127.0.0.3")


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def _process(command, log: Path, env=None):
    with open(log, "w") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env)
        try:
            yield process
        finally:
            _stop(process)


def _get(address: str, path: str, headers=None) -> int:
    request = urllib.request.Request(f"http://{address}{path}", headers=headers or {})
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - http only
        return response.status


def _served_by(log: Path) -> list[str]:
    """Client addresses of the proxied /healthz requests in a replica's access log: those
    that came with X-Forwarded-For, which Daphne logs with port 0. HAProxy's own health
    checks log a real port."""
    return re.findall(r"^(\S+):0 - - \[.*\] \"GET /healthz\"", log.read_text(), re.M)


@pytest.fixture(scope="module")
def proxy(django_db_setup, django_db_blocker, tmp_path_factory):
    missing = [tool for tool in ("haproxy", "dnsmasq") if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"{' and '.join(missing)} not found: apt-get install haproxy dnsmasq-base")
    scratch = tmp_path_factory.mktemp("proxy")
    hosts = scratch / "hosts"
    hosts.write_text("".join(f"{address} web\n" for address in REPLICAS))
    dns_port, port, proxy_port = _free_udp_port(), _free_port(), _free_port()
    dnsmasq = [
        shutil.which("dnsmasq"), "--keep-in-foreground", "--log-facility=-",
        "--conf-file=/dev/null", "--pid-file=", "--user=root", "--bind-interfaces",
        "--listen-address=127.0.0.1",
        f"--port={dns_port}", "--no-resolv", "--no-hosts", f"--addn-hosts={hosts}",
    ]  # fmt: skip
    proxy_env = {
        **os.environ,
        "WEB_SERVICE": f"web:{port}",
        "DNS_SERVER": f"127.0.0.1:{dns_port}",
        "PROXY_BIND": f"127.0.0.1:{proxy_port}",
        "CHECK_HOST": "localhost",
    }
    haproxy = [shutil.which("haproxy"), "-W", "-db", "-f", str(CONFIG)]
    with contextlib.ExitStack() as stack:
        stack.enter_context(_process(dnsmasq, scratch / "dnsmasq.log"))
        logs, pids = {}, {}
        for index, host in enumerate(REPLICAS):
            name = f"replica-{index}"
            _, pids[host] = stack.enter_context(
                _daphne(name, host=host, port=port, args=["--proxy-headers"], THROTTLES="off")
            )
            logs[host] = ROOT / f".pytest-{name}.log"
        process = stack.enter_context(_process(haproxy, scratch / "haproxy.log", proxy_env))
        address = f"127.0.0.1:{proxy_port}"
        # Up once both replicas have passed their health checks (rise 2, every 2 s).
        deadline = time.monotonic() + 30
        while not all(_served_by(log) for log in logs.values()):
            assert process.poll() is None, (scratch / "haproxy.log").read_text()
            assert time.monotonic() < deadline, (scratch / "haproxy.log").read_text()
            with contextlib.suppress(OSError):
                _get(address, "/healthz")
            time.sleep(0.2)
        yield address, logs, pids


def test_the_configuration_is_valid():
    env = {**os.environ, "WEB_SERVICE": "web:8000", "DNS_SERVER": "127.0.0.11:53",
           "PROXY_BIND": ":8000", "CHECK_HOST": "localhost"}  # fmt: skip
    checked = subprocess.run(
        [shutil.which("haproxy") or "haproxy", "-c", "-f", str(CONFIG)],
        env=env,
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_requests_reach_both_replicas_with_the_real_client_address(proxy):
    address, logs, _ = proxy
    before = {host: len(_served_by(log)) for host, log in logs.items()}
    for _ in range(20):
        # A client may not choose the address the per-address throttles count by.
        assert _get(address, "/healthz", {"X-Forwarded-For": "203.0.113.9"}) == 200
    served = {host: _served_by(log)[before[host] :] for host, log in logs.items()}
    assert all(served.values()), served
    assert sum(len(lines) for lines in served.values()) == 20
    clients = {line for lines in served.values() for line in lines}
    assert clients == {"127.0.0.1"}


@pytest.fixture
def room(alice, bob):
    conversation = services.conversation_create(actor=alice, kind="room", name="Proxied")
    memberships.membership_add(actor=alice, conversation=conversation, user_id=bob.pk)
    connection.close()
    return conversation


def test_websockets_through_the_proxy_reach_each_other(proxy, alice, bob, room):
    address, _, _ = proxy

    async def scenario():
        sockets = [
            await websockets.connect(f"ws://{address}/ws/?token={user.auth_token.key}")
            for user in (alice, bob)
        ]
        try:
            sender, receiver = sockets
            await sender.send(
                json.dumps({"action": "sendMessage", "conversationId": room.pk,
                            "message": "through the proxy", "clientId": "p-1"})
            )  # fmt: skip
            async with asyncio.timeout(10):
                ack = json.loads(await sender.recv())
                while (frame := json.loads(await receiver.recv())).get("action") != "message":
                    pass
            return ack, frame
        finally:
            for sock in sockets:
                await sock.close()

    ack, frame = asyncio.run(scenario())
    assert (ack["action"], ack["clientId"]) == ("ack", "p-1")
    assert (frame["message"], frame["seq"]) == ("through the proxy", ack["seq"])


def test_a_stopped_replica_loses_no_request(proxy):
    address, _, pids = proxy
    os.kill(pids[REPLICAS[1]], 15)
    time.sleep(0.5)
    # Before the health checks notice, a refused connection is tried on the other one.
    codes = [_get(address, "/healthz") for _ in range(20)]
    assert codes == [200] * 20
