from dataclasses import dataclass


@dataclass(frozen=True)
class OutboundSms:
    to: str
    sender: str
    body: str
    segments: int
    # Our record's id, the same on every attempt, so the provider can drop a duplicate
    # caused by a crash between its answer and our write.
    reference: str


class TransientError(Exception):
    """Worth trying again later (timeouts, 5xx, 429). `retry_after` in seconds, if told."""

    def __init__(self, message: str, *, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(Exception):
    """The provider refused this message for good (other 4xx)."""


class BaseBackend:
    def send(self, sms: OutboundSms) -> str:
        """Hand one message to the provider; return its id for the message.

        Raises TransientError or PermanentError.
        """
        raise NotImplementedError
