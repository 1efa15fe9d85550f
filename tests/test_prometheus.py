"""A real Prometheus (Debian's) scrapes a real Daphne's /metrics with the token, as
deploy/prometheus/prometheus.yml does, and every query of deploy/grafana's dashboard runs
against what it scraped. Needs Debian's prometheus (scripts/provision.sh installs it)."""

import asyncio
import json
import re
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import websockets
import yaml

from conftest import ROOT, _daphne, _free_port, _stop, _wait_for_port

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

TOKEN = "prometheus-e2e-token-0123456789"
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "messaging.json"
CONFIG = ROOT / "deploy" / "prometheus" / "prometheus.yml"


def _queries() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    # Grafana's own variable: at least four scrape intervals.
    return [
        target["expr"].replace("$__rate_interval", "1m")
        for panel in panels
        for target in panel["targets"]
    ]


def _ask(port: int, path: str, **params) -> dict:
    query = urllib.parse.urlencode(params)
    url = f"http://127.0.0.1:{port}{path}?{query}"
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def _config(target: str, token_file: Path) -> dict:
    """deploy/prometheus/prometheus.yml with this test's target, token file and a quick
    scrape: everything else (the job, the path, bearer authorization) as deployed."""
    config = yaml.safe_load(CONFIG.read_text())
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    (job,) = config["scrape_configs"]
    job["authorization"]["credentials_file"] = str(token_file)
    job["static_configs"] = [{"targets": [target]}]
    return config


def test_prometheus_scrapes_metrics_and_the_dashboards_queries_run(alice, tmp_path):
    prometheus = shutil.which("prometheus")
    if prometheus is None:
        pytest.fail("prometheus not found: apt-get install prometheus (scripts/provision.sh)")
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    with _daphne(
        "prometheus-web", METRICS_TOKEN=TOKEN, PROMETHEUS_MULTIPROC_DIR=str(metrics_dir)
    ) as (address, _):
        token_file = tmp_path / "token"
        token_file.write_text(TOKEN)
        config = tmp_path / "prometheus.yml"
        config.write_text(yaml.safe_dump(_config(address, token_file)))
        checked = subprocess.run(
            [shutil.which("promtool") or "promtool", "check", "config", str(config)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr
        port = _free_port()
        log = (tmp_path / "prometheus.log").open("w")
        server = subprocess.Popen(
            [
                prometheus,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            # Prometheus opens its port after loading its storage: seconds on a busy machine.
            _wait_for_port(port, server, timeout=60)
            asyncio.run(_traffic(address, alice.auth_token.key, port))
        finally:
            _stop(server)
            log.close()


async def _traffic(address: str, token: str, port: int) -> None:
    """A socket stays open and sends frames while Prometheus scrapes, so the series the
    dashboard reads have samples."""
    async with websockets.connect(f"ws://{address}/ws/?token={token}") as socket:
        deadline = time.monotonic() + 30
        while True:
            await socket.send('{"action":"ping","requestId":1}')
            await socket.recv()
            await asyncio.to_thread(
                urllib.request.urlopen,
                f"http://{address}/healthz",
                timeout=5,
            )
            up = await asyncio.to_thread(_ask, port, "/api/v1/query", query="up")
            opened = await asyncio.to_thread(
                _ask, port, "/api/v1/query", query="sum(messaging_websocket_open)"
            )
            if (
                up["status"] == "success"
                and [r["value"][1] for r in up["data"]["result"]] == ["1"]
                and [r["value"][1] for r in opened["data"]["result"]] == ["1"]
            ):
                break
            assert time.monotonic() < deadline, (up, opened)
            await asyncio.sleep(0.5)
        await asyncio.sleep(2.5)  # a few more scrapes, so that rate() has two points
        for query in _queries():
            answer = await asyncio.to_thread(_ask, port, "/api/v1/query", query=query)
            assert answer["status"] == "success", (query, answer)
        pings = await asyncio.to_thread(
            _ask,
            port,
            "/api/v1/query",
            query='sum(messaging_websocket_frames_received_total{action="ping"})',
        )
        assert float(pings["data"]["result"][0]["value"][1]) >= 2
        routes = await asyncio.to_thread(
            _ask,
            port,
            "/api/v1/query",
            query="sum by (route) (messaging_http_request_duration_seconds_count)",
        )
        assert "healthz" in {r["metric"].get("route") for r in routes["data"]["result"]}


def test_every_dashboard_query_names_a_series_the_service_defines():
    """A renamed series would leave a panel empty without an error anywhere."""
    # Every series is named by a string literal of its own in these two modules.
    defined = set(re.findall(r'"(messaging_\w+)"', _sources()))
    for query in _queries():
        for name in re.findall(r"\bmessaging_\w+", query):
            base = re.sub(r"_(total|bucket|count|sum)$", "", name)
            assert base in defined, (name, query)


def _sources() -> str:
    return "".join(
        (ROOT / path).read_text() for path in ("messaging_site/metrics.py", "campaigns/metrics.py")
    )
