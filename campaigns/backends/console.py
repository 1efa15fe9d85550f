import logging
import uuid

from .base import BaseBackend, OutboundSms

logger = logging.getLogger("campaigns.console")


class ConsoleBackend(BaseBackend):
    """Development: logs each message instead of sending it."""

    def send(self, sms: OutboundSms) -> str:
        logger.info(
            "SMS to=%s segments=%s reference=%s body=%r",
            sms.to,
            sms.segments,
            sms.reference,
            sms.body,
        )
        return f"console-{uuid.uuid4()}"
