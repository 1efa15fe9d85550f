import threading

from .base import BaseBackend, OutboundSms


class LocmemBackend(BaseBackend):
    """Tests: keeps what was sent in `LocmemBackend.outbox`, in this process."""

    outbox: list[OutboundSms] = []
    _lock = threading.Lock()

    def send(self, sms: OutboundSms) -> str:
        with self._lock:
            LocmemBackend.outbox.append(sms)
            return f"locmem-{len(LocmemBackend.outbox)}"
