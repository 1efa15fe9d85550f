import logging
import uuid

from django.conf import settings

from .base import BaseBackend, OutboundSms, Pace

logger = logging.getLogger("campaigns.console")


class ConsoleBackend(BaseBackend):
    """Development: logs each message instead of sending it. The text itself only with
    DEBUG on (`make run`): no log line elsewhere carries a message body (SPEC section 15)."""

    def send(self, sms: OutboundSms, pace: Pace) -> str:
        pace.ready()
        logger.info(
            "SMS to=%s segments=%s reference=%s%s",
            sms.to,
            sms.segments,
            sms.reference,
            f" body={sms.body!r}" if settings.DEBUG else "",
        )
        pace.left()
        return f"console-{uuid.uuid4()}"
