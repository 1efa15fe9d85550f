"""A stand-in for Twilio's Messages API on localhost, answering as Twilio does.

`POST /2010-04-01/Accounts/{sid}/Messages.json` with basic auth (the account SID and auth
token) and a form body: 201 with the Message as JSON (`sid` SM..., `status` "queued"), or
Twilio's error JSON (`code`, `message`, `more_info`, `status`) for a missing field, a
refused login or another account's path. HTTP/1.1 with keep-alive, as Twilio speaks it.

`arrivals` holds every request as it arrived (its time, the client's address, path,
headers, raw body and form); `script` is a list of answers used in turn before the
normal one: (status, headers, body), the body a dict (sent as JSON) or bytes as they are.
"""

import base64
import json
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

MORE_INFO = "https://www.twilio.com/docs/errors/{code}"


def twilio_error(status: int, code: int, message: str) -> dict:
    return {"code": code, "message": message, "more_info": MORE_INFO.format(code=code),
            "status": status}  # fmt: skip


@dataclass
class Arrival:
    at: float
    client: tuple[str, int]
    path: str
    headers: Message
    body: bytes
    form: dict[str, list[str]] = field(default_factory=dict)
    status: int = 0  # what it was answered
    reply: dict | bytes = b""

    def value(self, name: str) -> str | None:
        values = self.form.get(name)
        return values[0] if values else None


class TwilioApi(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, account_sid: str, auth_token: str):
        super().__init__(("127.0.0.1", 0), TwilioApiHandler)
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.arrivals: list[Arrival] = []
        self.script: list[tuple[int, dict, dict | bytes]] = []
        self.delay = 0.0
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def start(self) -> "TwilioApi":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def handle_error(self, request, client_address):
        # A client that gave up waiting (a timeout under test) is no fault of the stand-in.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    def answer(self, arrival: Arrival) -> tuple[int, dict, dict | bytes]:
        with self.lock:
            self.arrivals.append(arrival)
            scripted = self.script.pop(0) if self.script else None
        status, headers, reply = scripted or self._as_twilio(arrival)
        arrival.status, arrival.reply = status, reply
        return status, headers, reply

    def _as_twilio(self, arrival: Arrival) -> tuple[int, dict, dict | bytes]:
        expected = f"/2010-04-01/Accounts/{self.account_sid}/Messages.json"
        if arrival.path.partition("?")[0] != expected:
            return 404, {}, twilio_error(404, 20404, f"The requested resource {arrival.path} "
                                                     "was not found")  # fmt: skip
        if arrival.headers.get("Authorization") != self.authorization():
            return (
                401,
                {"WWW-Authenticate": 'Basic realm="Twilio API"'},
                twilio_error(401, 20003, "Authenticate"),
            )
        to, body = arrival.value("To"), arrival.value("Body")
        sender, service = arrival.value("From"), arrival.value("MessagingServiceSid")
        if not to:
            return 400, {}, twilio_error(400, 21604, "A 'To' phone number is required.")
        if not body:
            return 400, {}, twilio_error(400, 21602, "Message body is required.")
        if not sender and not service:
            return 400, {}, twilio_error(400, 21603, "A 'From' phone number is required.")
        sid = "SM" + uuid.uuid4().hex
        now = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime())
        return (
            201,
            {},
            {
                "account_sid": self.account_sid,
                "api_version": "2010-04-01",
                "body": body,
                "date_created": now,
                "date_sent": None,
                "date_updated": now,
                "direction": "outbound-api",
                "error_code": None,
                "error_message": None,
                "from": sender,
                "messaging_service_sid": service,
                "num_media": "0",
                "num_segments": "1",
                "price": None,
                "price_unit": "USD",
                "sid": sid,
                "status": "accepted" if service and not sender else "queued",
                "subresource_uris": {
                    "media": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}/Media.json"
                },
                "to": to,
                "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
            },
        )

    def authorization(self) -> str:
        pair = f"{self.account_sid}:{self.auth_token}".encode()
        return f"Basic {base64.b64encode(pair).decode()}"


class TwilioApiHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        arrived = time.time()
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        api: TwilioApi = self.server
        arrival = Arrival(
            at=arrived,
            client=self.client_address,
            path=self.path,
            headers=self.headers,
            body=raw,
            form=parse_qs(raw.decode("ascii"), keep_blank_values=True),
        )
        status, headers, body = api.answer(arrival)
        if api.delay:
            time.sleep(api.delay)
        encoded = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        for name, value in {"Content-Type": "application/json; charset=utf-8", **headers}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(encoded)))
        self.end_headers()
        self.wfile.write(encoded)

    def log_message(self, *args):
        pass
