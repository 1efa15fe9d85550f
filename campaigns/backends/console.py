import logging
import uuid

from .base import BaseBackend, OutboundSms, Pace

logger = logging.getLogger("campaigns.console")


class ConsoleBackend(BaseBackend):
    """Development: logs each message instead of sending it."""

    def send(self, sms: OutboundSms, pace: Pace) -> str:
        pace.ready()
        logger.info(
            "SMS to=%s segments=%s reference=%s body=%r",
            sms.to,
            sms.segments,
            sms.reference,
            sms.body,
        )
        pace.left()
        return f"console-{uuid.uuid4()}"
