"""The recording SMS gateway: the HttpBackend protocol (campaigns/backends/http.py) on
HTTP/1.1 keep-alive, in a process of its own (selectors, one thread, raised priority), as
a remote provider would be.

`POST` JSON `{to, from, body, segments, reference}` -> 200 `{"id"}`. Each request's
arrival is the kernel's receive timestamp of its first bytes (SO_TIMESTAMP), put on the
`time.monotonic()` clock that every process on this machine shares. A script can answer
503, optionally with `Retry-After`, to the first attempt(s) of chosen references. The
parent talks to it over a pipe: `script`, `records`, `stamps`, `clear`, `stop`.
"""

import contextlib
import json
import multiprocessing
import os
import selectors
import socket
import struct
import time
from dataclasses import dataclass

# (arrived, reference, segments, status)
Record = tuple[float, str, int, int]


@dataclass
class State:
    records: list
    script: dict  # reference -> [(status, retry_after or None), ...] used in turn
    kernel_stamps: int = 0
    read_stamps: int = 0


# Kernel receive timestamps (Linux SO_TIMESTAMP, a struct timeval in each recvmsg): when
# the request reached the socket, whatever the gateway process was doing then.
SO_TIMESTAMP = 29
ANCILLARY = socket.CMSG_SPACE(16)


class Connection:
    """One keep-alive client: bytes in, one answer per complete request."""

    def __init__(self, sock: socket.socket, state: State):
        self.sock = sock
        self.state = state
        self.buffer = b""
        self.arrived = 0.0

    def readable(self) -> bool:
        """Read what is there; False once the client has closed."""
        try:
            data, ancillary, _, _ = self.sock.recvmsg(65536, ANCILLARY)
        except (BlockingIOError, InterruptedError):
            return True
        except OSError:
            return False
        if not data:
            return False
        if not self.buffer:
            self.arrived = _arrival(ancillary, self.state)
        self.buffer += data
        while self._one_request():
            if self.buffer:
                self.arrived = time.monotonic()
        return True

    def _one_request(self) -> bool:
        head_end = self.buffer.find(b"\r\n\r\n")
        if head_end < 0:
            return False
        head = self.buffer[:head_end].decode("latin-1")
        length = 0
        for line in head.split("\r\n")[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        end = head_end + 4 + length
        if len(self.buffer) < end:
            return False
        body, self.buffer = self.buffer[head_end + 4 : end], self.buffer[end:]
        self.sock.sendall(_answer(self.state, self.arrived, json.loads(body or b"{}")))
        return True


def _arrival(ancillary: list, state: State) -> float:
    """The kernel's receive time on the monotonic clock; now, if the kernel gave none
    (Linux turns timestamping on a moment after the first socket asks)."""
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMP and len(data) >= 16:
            seconds, micros = struct.unpack("qq", data[:16])
            state.kernel_stamps += 1
            return seconds + micros / 1e6 - (time.time() - time.monotonic())
    state.read_stamps += 1
    return time.monotonic()


def _answer(state: State, arrived: float, payload: dict) -> bytes:
    reference = str(payload.get("reference"))
    answers = state.script.get(reference)
    status, retry_after = answers.pop(0) if answers else (200, None)
    state.records.append((arrived, reference, int(payload.get("segments") or 0), status))
    body = json.dumps({"id": f"gw-{reference}"} if status == 200 else {"error": "busy"})
    reason = "OK" if status == 200 else "Service Unavailable"
    headers = [f"HTTP/1.1 {status} {reason}", "Content-Type: application/json"]
    if retry_after is not None:
        headers.append(f"Retry-After: {retry_after}")
    headers.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(headers) + "\r\n\r\n" + body).encode()


def _serve(conn, address: str = "127.0.0.1") -> None:
    """The gateway process: one selector over the listening socket, the clients and the
    parent's pipe. It runs at a higher priority, as a remote provider would not share
    the product's cores."""
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, 0, -10)
    state = State(records=[], script={})
    listener = socket.create_server((address, 0), backlog=512)
    listener.setblocking(False)
    conn.send(listener.getsockname()[1])
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ, "accept")
    selector.register(conn, selectors.EVENT_READ, "control")
    while True:
        for key, _ in selector.select():
            if key.data == "accept":
                _accept(listener, selector, state)
            elif key.data == "control":
                if not _command(conn, state):
                    return
            elif not key.data.readable():
                selector.unregister(key.fileobj)
                key.fileobj.close()


def _accept(listener: socket.socket, selector, state: State) -> None:
    with contextlib.suppress(BlockingIOError):
        sock, _ = listener.accept()
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMP, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(True)  # answers are small: a send never waits
        sock.settimeout(None)
        selector.register(sock, selectors.EVENT_READ, Connection(sock, state))


def _command(conn, state: State) -> bool:
    command, argument = conn.recv()
    if command == "script":
        for reference, answers in argument.items():
            state.script[str(reference)] = list(answers)
        conn.send(None)
    elif command == "records":
        conn.send(state.records[argument:])
    elif command == "stamps":
        conn.send((state.kernel_stamps, state.read_stamps))
    elif command == "clear":
        state.records.clear()
        state.script.clear()
        conn.send(None)
    elif command == "stop":
        conn.send(None)
        return False
    return True


class Gateway:
    """The parent's handle on the gateway process."""

    def __init__(self, reaper=None, *, address: str = "127.0.0.1"):
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(child, address), daemon=True)
        self.process.start()
        self.address = address
        self.port = self.conn.recv()
        if reaper is not None:
            reaper.add(self.stop)

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.port}/sms"

    def _call(self, command: str, argument=None):
        self.conn.send((command, argument))
        return self.conn.recv()

    def script(self, answers: dict) -> None:
        """`{reference: [(status, retry_after or None), ...]}`, used one per arrival."""
        self._call("script", answers)

    def records(self, start: int = 0) -> list[Record]:
        return self._call("records", start)

    def stamps(self) -> tuple[int, int]:
        """How many arrivals had the kernel's timestamp, and how many the read time."""
        return self._call("stamps")

    def clear(self) -> None:
        self._call("clear")

    def stop(self) -> None:
        if self.process.is_alive():
            with contextlib.suppress(OSError, EOFError):
                self._call("stop")
            self.process.join(5)
            if self.process.is_alive():
                self.process.kill()
