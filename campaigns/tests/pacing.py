"""A `Pace` for backend tests that records, at each `ready()` and `left()`, how many of
the bytes written on the backend's kept-alive connection (backends/wire.py) had gone
out: the proof that every byte of a request is written between the two."""

import time


class CountingSocket:
    def __init__(self, sock, writes: list[bytes]):
        self.sock = sock
        self.writes = writes

    def sendall(self, data):
        self.writes.append(bytes(data))
        return self.sock.sendall(data)

    def __getattr__(self, name):
        return getattr(self.sock, name)


class WatchedPace:
    """`events`: ("ready" | "left", time, writes so far), one per call; `writes`: each
    write, in order. One instance may watch several sends."""

    def __init__(self, wire):
        self.wire = wire
        self.events: list[tuple[str, float, int]] = []
        self.writes: list[bytes] = []

    def ready(self) -> None:
        connection = self.wire.local.connection
        if not isinstance(connection.sock, CountingSocket):
            connection.sock = CountingSocket(connection.sock, self.writes)
        self.events.append(("ready", time.time(), len(self.writes)))

    def left(self) -> None:
        self.events.append(("left", time.time(), len(self.writes)))
