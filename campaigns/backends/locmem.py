import threading

from .base import BaseBackend, OutboundSms, Pace


class LocmemBackend(BaseBackend):
    """Tests: keeps what was sent in `LocmemBackend.outbox`, in this process."""

    outbox: list[OutboundSms] = []
    _lock = threading.Lock()

    def send(self, sms: OutboundSms, pace: Pace) -> str:
        pace.ready()
        with self._lock:
            LocmemBackend.outbox.append(sms)
            number = len(LocmemBackend.outbox)
        pace.left()
        return f"locmem-{number}"
