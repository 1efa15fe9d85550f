"""Texts people send us (SPEC section 14, "Inbound keywords"), from whichever backend
received them: each is stored; its body, trimmed and case-folded, may be a keyword. STOP
and its synonyms put the number on the opt-out list, START and its synonyms take it off,
HELP answers; each keyword gets one reply, a text like any other (queued, sent through the
limiter, counted against the 45 segments a second). Opt-ins and opt-outs go to the
consent log through campaigns.services.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from . import queue, services
from .models import ConsentEvent, InboundSms, SmsMessage

__all__ = ["HELP", "START", "STOP", "keyword_of", "receive"]

logger = logging.getLogger(__name__)

STOP = frozenset({"stop", "stopall", "unsubscribe", "cancel", "end", "quit"})
START = frozenset({"start", "unstop", "yes"})
HELP = frozenset({"help", "info"})
# The same keyword again from a number within this time, with nothing between (a gateway
# posting one text twice, a person pressing send twice), gets no second reply.
REPLY_WINDOW = timedelta(seconds=60)
# Replies to one number in a day, at most: an autoresponder answering our answers with
# keywords would otherwise go on for ever.
REPLIES_PER_DAY = 10


def keyword_of(body: str) -> str:
    """`stop`, `start`, `help`, or "" for any other text."""
    word = body.strip().casefold()
    if word in STOP:
        return "stop"
    if word in START:
        return "start"
    if word in HELP:
        return "help"
    return ""


def _sender_number(sender: str) -> str | None:
    """The sender as E.164. Gateways often drop the `+` of an international number."""
    number = services.normalize_number(sender)
    if number is None and sender.strip().isdigit():
        number = services.normalize_number("+" + sender.strip())
    return number


def receive(*, backend: str, sender: str, to: str = "", body: str = "") -> InboundSms:
    """Store one inbound text and act on its keyword, in one transaction; the texts of one
    number are taken one at a time (a lock on the number), so two posted at once are
    handled as one after the other."""
    number = _sender_number(sender)
    # A sender that is no phone number (an alphanumeric id) cannot opt out or be answered.
    keyword = keyword_of(body) if number else ""
    if keyword_of(body) and not number:
        logger.warning("keyword from %r ignored: not a phone number", sender)
    with transaction.atomic():
        if number:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"sms:{number}"])
        previous = (
            InboundSms.objects.filter(sender=number).order_by("-received_at", "-pk").first()
            if keyword
            else None
        )
        inbound = InboundSms.objects.create(
            backend=backend,
            sender=number or sender[:32],
            to=to[:32],
            body=body,
            keyword=keyword,
        )
        if not keyword:
            return inbound
        assert number is not None  # noqa: S101 - a keyword needs a number (above)
        source = ConsentEvent.Source.KEYWORD
        if keyword == "stop":
            services.optout_add(number=number, source=source, inbound=inbound)
            # A "subscribed again" not sent yet would arrive after this STOP and
            # contradict it: it goes. Every other answer is still owed.
            SmsMessage.objects.filter(
                kind=SmsMessage.Kind.REPLY,
                to=number,
                body=settings.SMS_START_TEXT,
                status=SmsMessage.Status.QUEUED,
            ).update(
                status=SmsMessage.Status.CANCELLED, dispatched_at=None, updated_at=timezone.now()
            )
            text = settings.SMS_STOP_TEXT
        elif keyword == "start":
            services.optout_remove(number=number, source=source, inbound=inbound, missing_ok=True)
            text = settings.SMS_START_TEXT
        else:
            text = settings.SMS_HELP_TEXT
        repeated = (
            previous is not None
            and previous.keyword == keyword
            and previous.received_at >= timezone.now() - REPLY_WINDOW
        )
        if not repeated:
            _reply(number, text)
    return inbound


def _reply(number: str, text: str) -> None:
    """Queue a keyword's answer, within REPLIES_PER_DAY for the number."""
    day = timezone.now() - timedelta(days=1)
    if (
        SmsMessage.objects.filter(kind=SmsMessage.Kind.REPLY, to=number, queued_at__gte=day).count()
        >= REPLIES_PER_DAY
    ):
        logger.warning("no reply to %s: %d replies in a day already", number, REPLIES_PER_DAY)
        return
    body, info = services.prepare_body(text)
    SmsMessage.objects.create(
        kind=SmsMessage.Kind.REPLY, to=number, body=body, segments=info.segments
    )
    queue.dispatch_on_commit()
