"""Cross-cutting HTTP rules: body size limit, health check, API schema and docs."""

import json

import pytest
from asgiref.testing import ApplicationCommunicator
from django.core.management import call_command

from conftest import PASSWORD
from messaging_site import health
from messaging_site.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)
MIB = 1024 * 1024


async def asgi_post(path, chunks, headers=()):
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"host", b"localhost"), (b"content-type", b"application/json"), *headers],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
    }
    app = ApplicationCommunicator(application, scope)
    for index, chunk in enumerate(chunks):
        await app.send_input(
            {"type": "http.request", "body": chunk, "more_body": index < len(chunks) - 1}
        )
    start = await app.receive_output(timeout=5)
    body = b""
    while True:
        message = await app.receive_output(timeout=5)
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    return start["status"], body


def _json_body(size):
    overhead = len(json.dumps({"username": "big", "password": PASSWORD, "name": ""}))
    body = json.dumps({"username": "big", "password": PASSWORD, "name": "x" * (size - overhead)})
    assert len(body) == size
    return body


@pytest.mark.asyncio
async def test_declared_body_over_one_mib_is_413_before_django_reads_it():
    body = _json_body(MIB + 1).encode()
    status, response = await asgi_post(
        "/api/auth/register/", [body], [(b"content-length", str(len(body)).encode())]
    )
    assert status == 413
    assert json.loads(response)["code"] == "too_large"


@pytest.mark.asyncio
async def test_chunked_body_over_one_mib_is_413():
    chunk = b"x" * (256 * 1024)
    status, _ = await asgi_post("/api/auth/register/", [chunk] * 5)
    assert status == 413


@pytest.mark.asyncio
async def test_body_at_the_limit_reaches_the_api():
    body = json.dumps({"username": "small", "password": PASSWORD}).encode()
    status, response = await asgi_post(
        "/api/auth/register/", [body], [(b"content-length", str(len(body)).encode())]
    )
    assert status == 201, response
    assert json.loads(response)["username"] == "small"


@pytest.mark.asyncio
async def test_a_nearly_one_mib_body_is_not_refused_for_size():
    body = _json_body(MIB - 10).encode()
    status, response = await asgi_post(
        "/api/auth/register/", [body], [(b"content-length", str(len(body)).encode())]
    )
    # The name is far over 100 characters: a field error, not a size refusal.
    assert status == 400
    assert "name" in json.loads(response)


def test_healthz_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"database": "ok", "redis": "ok"}


def test_healthz_names_redis_when_it_is_down(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"database": "ok", "redis": "down"}


def test_healthz_names_the_database_when_it_is_down(client, monkeypatch):
    monkeypatch.setattr(health, "check_database", lambda: False)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"database": "down", "redis": "ok"}


def test_openapi_schema_validates():
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null")


def test_schema_lists_the_account_endpoints(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    assert schema["openapi"].startswith("3.")
    for path in ("/api/auth/register/", "/api/auth/token/", "/api/users/me/", "/api/blocks/"):
        assert path in schema["paths"]


def test_docs_use_local_assets_only(client):
    html = client.get("/api/docs/").content.decode()
    assert "/static/drf_spectacular_sidecar/" in html
    assert "cdn" not in html.lower()
    assert "<style>" not in html
