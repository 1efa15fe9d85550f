"""Texts people send us (SPEC section 14, "Inbound keywords"), from whichever backend
received them: each is stored; its body, trimmed and case-folded, may be a keyword. STOP
and its synonyms put the number on the opt-out list, START and its synonyms take it off,
HELP answers; each keyword gets one reply, a text like any other (queued, sent through the
limiter, counted against the 45 segments a second). Opt-ins and opt-outs go to the
consent log through campaigns.services.
"""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from . import queue, services
from .models import ConsentEvent, InboundSms, SmsMessage

__all__ = ["HELP", "START", "STOP", "keyword_of", "receive"]

STOP = frozenset({"stop", "stopall", "unsubscribe", "cancel", "end", "quit"})
START = frozenset({"start", "unstop", "yes"})
HELP = frozenset({"help", "info"})
# A gateway that posts one inbound twice, or a phone's autoresponder answering our reply
# with the same word, gets no second reply within this many seconds.
REPLY_WINDOW = timedelta(seconds=60)


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


def receive(*, backend: str, sender: str, to: str = "", body: str = "") -> InboundSms:
    """Store one inbound text and act on its keyword, in one transaction."""
    number = services.normalize_number(sender)
    # A sender that is no phone number (an alphanumeric id) cannot opt out or be answered.
    keyword = keyword_of(body) if number else ""
    with transaction.atomic():
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
            text = settings.SMS_STOP_TEXT
        elif keyword == "start":
            services.optout_remove(number=number, source=source, inbound=inbound, missing_ok=True)
            text = settings.SMS_START_TEXT
        else:
            text = settings.SMS_HELP_TEXT
        _reply(number, text)
    return inbound


def _reply(number: str, text: str) -> None:
    """Queue the keyword's answer, unless the same one went to this number a moment ago."""
    recent = timezone.now() - REPLY_WINDOW
    if SmsMessage.objects.filter(
        kind=SmsMessage.Kind.REPLY, to=number, body=text, queued_at__gte=recent
    ).exists():
        return
    body, info = services.prepare_body(text)
    SmsMessage.objects.create(
        kind=SmsMessage.Kind.REPLY, to=number, body=body, segments=info.segments
    )
    queue.dispatch_on_commit()
