"""The service's Prometheus series (SPEC section 15), each defined once, and `/metrics`.

Every process of a host writes its series to files in PROMETHEUS_MULTIPROC_DIR, which
its launcher sets before anything imports prometheus-client (scripts/serve.py,
scripts/run.py, the Celery worker's environment; docker-compose.yml gives web and worker
one volume), so any Daphne process of a host answers for all of them: the sockets of
every Daphne process, the sends of every Celery worker. Without that directory (tests,
`manage.py runserver`) each process answers for itself.

What the database knows (records per status) is read when Prometheus asks, by collectors
that messaging_site.urls hands to the view: this module knows no app.

`/metrics` answers only a bearer of METRICS_TOKEN or a client in METRICS_ALLOWED_IPS;
everyone else gets the 404 any unknown path gets, so it does not say it exists.
"""

import hmac
import ipaddress
import os
import socket
import time
from collections.abc import Iterable

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.views import View
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)
from prometheus_client.registry import Collector

MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


def process_id() -> str:
    """This process among all that share the directory: docker-compose.yml shares one
    between containers, whose pids repeat, so the host name comes first. (The files are
    named type_mode_id.db: no underscore in the id.)"""
    return f"{socket.gethostname().replace('_', '-')}-{os.getpid()}"


if MULTIPROCESS:
    # Before the first series below exists: each series takes `values.ValueClass` when
    # it is created, and MultiProcessValue names the process's files by this function
    # (tests/test_metrics.py holds both).
    values.ValueClass = values.MultiProcessValue(process_id)
    # A live gauge file with our own id belongs to a dead process that had it before (a
    # restarted container keeps its host name, and its processes their pids): the open
    # sockets it counted are gone.
    multiprocess.mark_process_dead(process_id())

# Latencies people feel: a frame or a response within 5 ms is instant, past 2.5 s broken.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

OPEN_SOCKETS = Gauge(
    "messaging_websocket_open",
    "WebSockets open now (authenticated and accepted).",
    multiprocess_mode="livesum",
)
FRAMES_RECEIVED = Counter(
    "messaging_websocket_frames_received",
    "Frames received from clients, by action ('invalid' before one could be read).",
    ["action"],
)
FRAMES_SENT = Counter(
    "messaging_websocket_frames_sent", "Frames sent to clients, by action.", ["action"]
)
GAP_FILLS = Counter(
    "messaging_websocket_gap_fills",
    "Times a socket saw a conversation's seq jump and filled the gap from the database.",
)
COMMIT_TO_FRAME = Histogram(
    "messaging_commit_to_frame_seconds",
    "From the commit of a change (its publish) to the frame that tells a socket of it.",
    buckets=LATENCY_BUCKETS,
)
HTTP_LATENCY = Histogram(
    "messaging_http_request_duration_seconds",
    "HTTP requests from the start of the middleware chain to the response, by route.",
    ["route", "method"],
    buckets=LATENCY_BUCKETS,
)
PUBLISH_FAILURES = Counter(
    "messaging_channel_layer_publish_failures",
    "Batches of events the channel layer did not take (sent again once it is back).",
)
SMS_SEGMENTS = Counter(
    "messaging_sms_segments_sent",
    "SMS segments handed to the provider (written to it, whatever it answered).",
    ["backend"],
)
SMS_LIMITER_WAIT = Histogram(
    "messaging_sms_limiter_wait_seconds",
    "How long each request to the provider waited for its place under the global limit.",
    buckets=(0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)
SMS_OUTCOMES = Counter(
    "messaging_sms_outcomes",
    "Attempts at a record, by outcome: sent, retry, dead, failed, skipped, expired, "
    "deferred (quiet hours), lost (its worker died; the sweep queued it again).",
    ["outcome"],
)
for _outcome in ("sent", "retry", "dead", "failed", "skipped", "expired", "deferred", "lost"):
    SMS_OUTCOMES.labels(_outcome)  # at 0 from the start, so rate() sees the first one


class _Labelled:
    """A labelled counter's children, kept: `labels()` takes a lock and builds a key on
    every call, and frames are counted once per delivery."""

    def __init__(self, counter: Counter):
        self.counter = counter
        self.children: dict[str, object] = {}

    def inc(self, label: str) -> None:
        child = self.children.get(label)
        if child is None:
            child = self.children[label] = self.counter.labels(label)
        child.inc()  # type: ignore[attr-defined]


frames_received = _Labelled(FRAMES_RECEIVED)
frames_sent = _Labelled(FRAMES_SENT)

# Frames are written as {"action":"...",...} (the consumer's send_json and every app's
# events.encode): the action is read off the text without decoding it.
_ACTION_PREFIX = '{"action":"'
_ACTION_AT = len(_ACTION_PREFIX)


def frame_action(text: str) -> str:
    if text.startswith(_ACTION_PREFIX):
        end = text.find('"', _ACTION_AT, _ACTION_AT + 48)
        if end > 0:
            return text[_ACTION_AT:end]
    return "other"


def _allowed(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if token and header.startswith("Bearer "):
        return hmac.compare_digest(header[len("Bearer ") :].encode(), token.encode())
    if not settings.METRICS_ALLOWED_IPS:
        return False
    try:
        client = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(client in network for network in settings.METRICS_ALLOWED_IPS)


class MetricsView(View):
    """GET /metrics: this host's series, then what `scraped` collectors read now."""

    scraped: Iterable[Collector] = ()

    def get(self, request: HttpRequest) -> HttpResponse:
        if not _allowed(request):
            raise Http404
        if MULTIPROCESS:
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
        else:
            registry = REGISTRY
        now = CollectorRegistry(auto_describe=False)
        for collector in self.scraped:
            now.register(collector)
        return HttpResponse(
            generate_latest(registry) + generate_latest(now), content_type=CONTENT_TYPE_LATEST
        )


class RequestMetrics:
    """First in MIDDLEWARE: every request's latency under its URL's name (its view name,
    a bounded set), or "unmatched" when no URL matched."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        match = request.resolver_match
        route = (match.view_name or match.route) if match is not None else "unmatched"
        method = request.method if request.method in _METHODS else "other"
        HTTP_LATENCY.labels(route, method).observe(time.perf_counter() - started)
        return response


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
