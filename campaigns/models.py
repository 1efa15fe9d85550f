"""SMS records and campaigns. The database is the source of truth for every message's
state; Celery only carries "look at message N" (see campaigns/sending.py)."""

from django.conf import settings
from django.db import models
from django.db.models import Q


class Campaign(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft"
        # Launched with a `send_at` still ahead: the tick starts it then (campaigns.services).
        SCHEDULED = "scheduled"
        RUNNING = "running"
        COMPLETED = "completed"
        CANCELLED = "cancelled"

    name = models.CharField(max_length=100)
    # As written, `{{placeholders}}` and all (campaigns.personal).
    message = models.TextField()
    # What is sent: `message`, or its smart-encoded form when that saves segments; for a
    # personal message, its template (each record holds its own text).
    body = models.TextField()
    smart_encoding = models.BooleanField(default=False)
    # The campaign's texts' encoding: UCS-2 if any of them needs it. Per text in the records.
    encoding = models.CharField(max_length=10)
    # The most any of its texts takes; their sum is `segments_total` (campaigns.selectors).
    segments_per_message = models.PositiveSmallIntegerField()
    # SPEC section 14: when to start (1 minute to 35 days ahead at create; NULL: at launch),
    # the hours, in each recipient's local time, when nothing is sent (both or neither),
    # and how long after the start a text may still go out.
    send_at = models.DateTimeField(null=True, blank=True)
    quiet_start = models.TimeField(null=True, blank=True)
    quiet_end = models.TimeField(null=True, blank=True)
    valid_for_seconds = models.PositiveIntegerField(default=86_400, db_default=86_400)
    # When sending began: the launch, or `send_at` for a scheduled campaign. Texts not
    # handed over by `started_at + valid_for_seconds` expire.
    started_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    launched_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status"], name="campaigns_campaign_status")]
        constraints = [
            models.CheckConstraint(
                condition=Q(quiet_start__isnull=True, quiet_end__isnull=True)
                | Q(quiet_start__isnull=False, quiet_end__isnull=False),
                name="campaigns_quiet_hours_both_or_neither",
            ),
        ]

    def __str__(self):
        return self.name

    @property
    def quiet_hours(self) -> dict[str, str] | None:
        if self.quiet_start is None or self.quiet_end is None:
            return None
        return {
            "start": self.quiet_start.strftime("%H:%M"),
            "end": self.quiet_end.strftime("%H:%M"),
        }


class SmsMessage(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued"
        SENDING = "sending"
        SENT = "sent"
        FAILED = "failed"
        DEAD = "dead"
        SKIPPED = "skipped"
        CANCELLED = "cancelled"
        # Not handed to the provider within its campaign's validity: never sent late.
        EXPIRED = "expired"

    class Kind(models.TextChoices):
        MESSAGE = "message"
        # The one answer to an inbound keyword (campaigns.inbound): sent to a number that
        # has just opted out too, which is what confirms it.
        REPLY = "reply"

    campaign = models.ForeignKey(
        Campaign, null=True, blank=True, on_delete=models.CASCADE, related_name="messages"
    )
    kind = models.CharField(
        max_length=10, choices=Kind.choices, default=Kind.MESSAGE, db_default=Kind.MESSAGE
    )
    to = models.CharField(max_length=20, help_text="E.164")
    body = models.TextField()
    segments = models.PositiveSmallIntegerField()
    # "GSM-7" or "UCS-2" ("" for records older than the field).
    encoding = models.CharField(max_length=10, blank=True, default="", db_default="")
    # The recipient's time zones (IANA names, comma-separated), for a campaign with quiet
    # hours (campaigns.quiet); "" otherwise.
    time_zones = models.CharField(max_length=200, blank=True, default="", db_default="")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    # NULL: due now. Set after a transient error: no task exists until it passes.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # Set when a task was put on the broker for this record; cleared when a task claims
    # it. The dispatcher skips records with a live task, so there is never a second one.
    dispatched_at = models.DateTimeField(null=True, blank=True)
    # While `sending`: the claim expires here and the sweep takes the record back.
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    lease_token = models.UUIDField(null=True, blank=True)

    class Delivery(models.TextChoices):
        PENDING = ""
        DELIVERED = "delivered"
        UNDELIVERED = "undelivered"
        EXPIRED = "expired"

    last_error = models.TextField(blank=True, default="")
    provider_id = models.CharField(max_length=100, blank=True, default="")
    # What the provider's delivery reports say (campaigns.delivery): "" until they say
    # anything; delivered when every part is.
    delivery_status = models.CharField(
        max_length=12, choices=Delivery.choices, blank=True, default="", db_default=""
    )
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    queued_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        permissions = [("send_sms", "Can send SMS and run campaigns")]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "to"], name="campaigns_sms_campaign_to"),
        ]
        indexes = [
            # The dispatcher's scans (campaigns.sending.dispatch_due), each on the few rows
            # it wants however long the queue: first attempts in id order; retries and
            # texts deferred to the morning by when they are due; tasks on the broker (in
            # flight, or lost with it).
            models.Index(
                fields=["id"],
                condition=Q(
                    status="queued", dispatched_at__isnull=True, next_attempt_at__isnull=True
                ),
                name="campaigns_sms_due_first",
            ),
            models.Index(
                fields=["next_attempt_at", "id"],
                condition=Q(
                    status="queued", dispatched_at__isnull=True, next_attempt_at__isnull=False
                ),
                name="campaigns_sms_due_later",
            ),
            models.Index(
                fields=["dispatched_at"],
                condition=Q(status="queued", dispatched_at__isnull=False),
                name="campaigns_sms_dispatched",
            ),
            # The sweep's scan of expired leases.
            models.Index(
                fields=["lease_expires_at"],
                condition=Q(status="sending"),
                name="campaigns_sms_sending",
            ),
            models.Index(fields=["campaign", "status"], name="campaigns_sms_campaign_status"),
            # Keyword replies: the dispatcher takes them first, and inbound.receive counts
            # a number's recent ones.
            models.Index(
                fields=["to", "queued_at"],
                condition=Q(kind="reply"),
                name="campaigns_sms_reply_to",
            ),
            models.Index(
                fields=["id"],
                condition=Q(status="queued", kind="reply"),
                name="campaigns_sms_reply_queued",
            ),
        ]

    def __str__(self):
        return f"SMS #{self.pk} to {self.to} ({self.status})"


class DeliveryReport(models.Model):
    """One delivery report for one part of a text, kept once however often the provider
    sends it (campaigns.delivery.report)."""

    sms = models.ForeignKey(SmsMessage, on_delete=models.CASCADE, related_name="reports")
    # 1-based; a report for the whole message counts for every part.
    part = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=12, choices=SmsMessage.Delivery.choices)
    backend = models.CharField(max_length=20)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["sms", "part"], name="campaigns_dlr_once_per_part"),
        ]

    def __str__(self):
        return f"{self.sms_id} part {self.part}: {self.status}"


class OptOut(models.Model):
    number = models.CharField(max_length=20, unique=True, help_text="E.164")
    source = models.CharField(max_length=20, default="api")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return self.number


class InboundSms(models.Model):
    """A text someone sent us, through any backend (campaigns.inbound.receive)."""

    backend = models.CharField(max_length=20)
    # E.164 when it parses as a number; as the gateway gave it otherwise.
    sender = models.CharField(max_length=32)
    to = models.CharField(max_length=32, blank=True, default="")
    body = models.TextField(blank=True, default="")
    # The keyword it was read as (`stop`, `start`, `help`), or "" for any other text.
    keyword = models.CharField(max_length=10, blank=True, default="")
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "inbound SMS"
        verbose_name_plural = "inbound SMS"
        indexes = [models.Index(fields=["sender", "received_at"], name="campaigns_inbound_sender")]

    def __str__(self):
        return f"{self.sender}: {self.body[:40]}"


class ConsentEvent(models.Model):
    """Every opt-in and opt-out, whatever its source (SPEC section 14): written in the same
    transaction as the change to the opt-out list (campaigns.services)."""

    class Event(models.TextChoices):
        OPT_OUT = "opt_out"
        OPT_IN = "opt_in"

    class Source(models.TextChoices):
        KEYWORD = "keyword"
        API = "api"
        ADMIN = "admin"
        IMPORT = "import"

    number = models.CharField(max_length=20, help_text="E.164")
    event = models.CharField(max_length=10, choices=Event.choices)
    source = models.CharField(max_length=10, choices=Source.choices)
    inbound = models.ForeignKey(
        InboundSms, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["number", "created_at"], name="campaigns_consent_number")]

    def __str__(self):
        return f"{self.number} {self.event} ({self.source})"


class IdempotentRequest(models.Model):
    """The first answer to a request sent with an Idempotency-Key, replayed on retries."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=100)
    fingerprint = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField()
    response = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="campaigns_idempotency_key"),
        ]

    def __str__(self):
        return f"{self.user_id}:{self.key}"
