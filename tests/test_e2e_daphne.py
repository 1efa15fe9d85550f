"""Through a real Daphne process: HTTP, the body limit, and WebSockets with a real client."""

import asyncio
import contextlib
import json
import os
import socket
import time
import urllib.error
import urllib.request

import pytest
import websockets

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def http(server, path, *, data=None, headers=None):
    request = urllib.request.Request(f"http://{server}{path}", data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_healthz_through_daphne(daphne_server):
    status, body = http(daphne_server, "/healthz")
    assert status == 200
    assert json.loads(body) == {"database": "ok", "redis": "ok"}


def test_register_then_token_through_daphne(daphne_server):
    payload = json.dumps({"username": "viadaphne", "password": "a-long-enough-passphrase-42"})
    status, body = http(
        daphne_server,
        "/api/auth/register/",
        data=payload.encode(),
        headers={"Content-Type": "application/json"},
    )
    assert status == 201, body
    assert json.loads(body)["token"]


def test_two_mib_body_is_413_through_daphne(daphne_server):
    status, body = http(
        daphne_server,
        "/api/auth/register/",
        data=b"{" + b" " * (2 * 1024 * 1024) + b"}",
        headers={"Content-Type": "application/json"},
    )
    assert status == 413
    assert json.loads(body)["code"] == "too_large"


def multipart(name: str, data: bytes) -> tuple[bytes, str]:
    boundary = "----e2e-upload-boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


def test_uploads_up_to_their_own_limit_pass_the_body_limit(daphne_server, alice, bob, settings):
    """The one exception to the 1 MiB body limit (SPEC section 13), at the real 25 MiB."""
    token = {"Authorization": f"Token {alice.auth_token.key}"}
    limit = settings.UPLOAD_MAX_BYTES
    body, content_type = multipart("exact.bin", os.urandom(1024) * (limit // 1024))
    status, answer = http(
        daphne_server, "/api/uploads/", data=body, headers={**token, "Content-Type": content_type}
    )
    assert status == 201, answer
    upload = json.loads(answer)
    assert upload["size"] == limit
    # A byte more: refused, whether the wrapping is within the allowance or not (past
    # it, as the body arrives: test_a_body_past_every_limit_is_refused_as_it_arrives).
    body, content_type = multipart("over.bin", b"x" * (limit + 1))
    status, answer = http(
        daphne_server, "/api/uploads/", data=body, headers={**token, "Content-Type": content_type}
    )
    assert status == 413
    assert json.loads(answer)["code"] == "too_large"
    # Elsewhere the limit stays 1 MiB, multipart or not.
    body, content_type = multipart("x.bin", b"x" * (2 * 1024 * 1024))
    status, _ = http(
        daphne_server,
        "/api/auth/register/",
        data=body,
        headers={"Content-Type": content_type},
    )
    assert status == 413
    # Twisted would parse every multipart body itself, and answer a malformed one with a
    # bare 400 (messaging_site/server.py): the API answers it.
    status, answer = http(
        daphne_server,
        "/api/uploads/",
        data=b"--nothing-here--\r\n",
        headers={**token, "Content-Type": "multipart/form-data; boundary=nothing-here"},
    )
    assert status == 400
    assert "file" in json.loads(answer)
    status, _ = http(daphne_server, upload["url"], headers=token)
    assert status == 200
    status, _ = http(
        daphne_server, upload["url"], headers={"Authorization": f"Token {bob.auth_token.key}"}
    )
    assert status == 404


def test_static_files_are_served_by_whitenoise(daphne_server):
    status, _ = http(
        daphne_server, "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui.css"
    )
    assert status == 200


def test_token_client_without_origin_talks_over_a_real_socket(daphne_server, alice):
    async def scenario():
        uri = f"ws://{daphne_server}/ws/?token={alice.auth_token.key}"
        async with websockets.connect(uri) as socket:
            await socket.send(json.dumps({"action": "nope", "requestId": "a"}))
            reply = json.loads(await asyncio.wait_for(socket.recv(), 5))
            assert reply["code"] == "unknown_action"
            assert reply["requestId"] == "a"

    asyncio.run(scenario())


def test_header_token_and_our_origin_are_accepted(daphne_server, alice):
    async def scenario():
        async with websockets.connect(
            f"ws://{daphne_server}/ws/",
            additional_headers={"Authorization": f"Token {alice.auth_token.key}"},
            origin=f"http://{daphne_server}",
        ) as socket:
            await socket.send("{}")
            reply = json.loads(await asyncio.wait_for(socket.recv(), 5))
            assert reply["code"] == "invalid"

    asyncio.run(scenario())


def test_foreign_origin_is_refused_at_the_handshake_by_daphne(daphne_server, alice):
    async def scenario():
        with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
            async with websockets.connect(
                f"ws://{daphne_server}/ws/?token={alice.auth_token.key}",
                origin="https://evil.example",
            ):
                pass
        assert refused.value.response.status_code == 403

    asyncio.run(scenario())


def test_anonymous_socket_is_closed_with_4401_by_daphne(daphne_server):
    async def scenario():
        async with websockets.connect(f"ws://{daphne_server}/ws/") as socket:
            with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
                await asyncio.wait_for(socket.recv(), 5)
            assert closed.value.rcvd.code == 4401

    asyncio.run(scenario())


def test_frame_over_64k_keeps_the_socket_open_through_daphne(daphne_server, alice):
    async def scenario():
        uri = f"ws://{daphne_server}/ws/?token={alice.auth_token.key}"
        async with websockets.connect(uri, max_size=None) as socket:
            await socket.send(json.dumps({"action": "x", "pad": "a" * 200_000}))
            assert json.loads(await asyncio.wait_for(socket.recv(), 5))["code"] == "too_large"
            await socket.send(json.dumps({"action": "x"}))
            assert json.loads(await asyncio.wait_for(socket.recv(), 5))["code"] == "unknown_action"

    asyncio.run(scenario())


def test_lone_surrogate_and_huge_id_keep_the_socket_open_through_daphne(daphne_server, alice):
    """Daphne sends text as UTF-8: echoing a lone surrogate back used to kill the socket."""

    async def scenario():
        uri = f"ws://{daphne_server}/ws/?token={alice.auth_token.key}"
        async with websockets.connect(uri) as socket:
            await socket.send('{"action":"ping","requestId":"\\ud800"}')
            reply = json.loads(await asyncio.wait_for(socket.recv(), 5))
            assert (reply["code"], reply["requestId"]) == ("invalid", None)
            await socket.send('{"action":"getMembers","roomId":9223372036854775808}')
            assert json.loads(await asyncio.wait_for(socket.recv(), 5))["code"] == "invalid"
            await socket.send('{"action":"ping","requestId":1}')
            assert json.loads(await asyncio.wait_for(socket.recv(), 5))["action"] == "pong"

    asyncio.run(scenario())


def test_text_that_is_not_utf8_fails_the_connection_with_1007(daphne_server, alice):
    async def scenario():
        uri = f"ws://{daphne_server}/ws/?token={alice.auth_token.key}"
        async with websockets.connect(uri) as socket:
            await socket.send(b'{"action":"ping","x":"\xff\xfe"}', text=True)
            with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
                await asyncio.wait_for(socket.recv(), 5)
            assert closed.value.rcvd is not None, "the TCP connection was dropped"
            assert closed.value.rcvd.code == 1007

    asyncio.run(scenario())


def _raw(server: str, head: bytes, body_chunks) -> bytes:
    """Send a request by hand and read what comes back, however early the server answers."""
    host, port = server.split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head)
        try:
            for chunk in body_chunks:
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused before we finished: what is being tested
        answer = b""
        with contextlib.suppress(ConnectionResetError, TimeoutError):
            while data := sock.recv(65536):
                answer += data
    return answer


def test_a_body_past_every_limit_is_refused_as_it_arrives(daphne_server, settings):
    """Twisted would store the whole body before Daphne passes it on
    (messaging_site/server.py): a declared length past the largest limit is refused at
    once, and a chunked body as soon as it passes it, with the rest never read."""
    largest = settings.UPLOAD_MAX_BYTES + 64 * 1024
    declared = (
        f"POST /api/uploads/ HTTP/1.1\r\nHost: {daphne_server}\r\n"
        f"Content-Type: application/octet-stream\r\nContent-Length: {10 * largest}\r\n\r\n"
    ).encode()
    started = time.monotonic()
    answer = _raw(daphne_server, declared, [b"x" * 1024])
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b'"code": "too_large"' in answer
    assert time.monotonic() - started < 5
    chunked = (
        f"POST /api/auth/register/ HTTP/1.1\r\nHost: {daphne_server}\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    ).encode()
    piece = b"x" * (1024 * 1024)
    chunks = (b"%x\r\n%s\r\n" % (len(piece), piece) for _ in range(4 * largest // len(piece)))
    answer = _raw(daphne_server, chunked, chunks)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    # The server goes on serving.
    status, _ = http(daphne_server, "/healthz")
    assert status == 200
