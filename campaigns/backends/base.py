from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class OutboundSms:
    to: str
    sender: str
    body: str
    segments: int
    # Our record's id, the same on every attempt, so the provider can drop a duplicate
    # caused by a crash between its answer and our write.
    reference: str


class Pace(Protocol):
    """The limiter's hold on a message (campaigns.limiter.Slot). A backend calls `ready()`
    immediately before the request's first byte is written (it may block until the
    message may leave) and `left()` immediately after its last byte: everything slow
    (connecting, encoding) happens before `ready()`, so the limit holds as the provider
    receives the requests. A second request for the same message (a resend) calls both
    again."""

    def ready(self) -> None: ...

    def left(self) -> None: ...


class TransientError(Exception):
    """Worth trying again later (timeouts, 5xx, 429). `retry_after` in seconds, if told."""

    def __init__(self, message: str, *, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(Exception):
    """The provider refused this message for good (other 4xx)."""


class BaseBackend:
    def send(self, sms: OutboundSms, pace: Pace) -> str:
        """Hand one message to the provider, between `pace.ready()` and `pace.left()`;
        return its id for the message.

        Raises TransientError or PermanentError.
        """
        raise NotImplementedError
