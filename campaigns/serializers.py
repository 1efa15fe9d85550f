"""Shapes only; numbers, bodies and states are checked in campaigns.services."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from messaging_site.fields import TextField

from .backends.kannel import report_status as kannel_status
from .backends.twilio import report_status as twilio_status
from .models import Campaign, InboundSms, OptOut, SmsMessage


class SegmentsInputSerializer(serializers.Serializer):
    message = TextField(trim_whitespace=False, max_length=1600)
    smart_encoding = serializers.BooleanField(default=False)


class SegmentsSerializer(serializers.Serializer):
    encoding = TextField()
    segments = serializers.IntegerField()
    characters = serializers.IntegerField()
    units = serializers.IntegerField()
    per_segment = serializers.IntegerField()
    non_gsm_characters = serializers.ListField(child=TextField())
    remaining = serializers.IntegerField(help_text="Units still free in the last segment.")


class SendInputSerializer(serializers.Serializer):
    message = TextField(trim_whitespace=False)
    to = serializers.ListField(
        child=TextField(allow_blank=True), allow_empty=False, max_length=10_000
    )
    smart_encoding = serializers.BooleanField(default=False)


class QueuedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    to = TextField()
    status = TextField()


class SendSerializer(serializers.Serializer):
    encoding = TextField()
    segments = serializers.IntegerField()
    messages = QueuedSerializer(many=True)


@extend_schema_field(
    {
        "oneOf": [
            {"type": "string", "description": "a phone number"},
            {
                "type": "object",
                "properties": {"to": {"type": "string"}},
                "required": ["to"],
                "additionalProperties": {"oneOf": [{"type": "string"}, {"type": "number"}]},
                "description": "a phone number and the fields its {{placeholders}} take",
            },
        ]
    }
)
class RecipientField(serializers.Field):
    """A number, or `{"to", ...fields}`: the shape only; campaigns.services checks both."""

    default_error_messages = {"shape": "A phone number, or an object with `to`."}

    def to_internal_value(self, data):
        if isinstance(data, str) or (isinstance(data, dict) and "to" in data):
            return data
        self.fail("shape")

    def to_representation(self, value):
        return value


class QuietHoursSerializer(serializers.Serializer):
    start = TextField(max_length=5, help_text="HH:MM, the recipient's local time")
    end = TextField(max_length=5, help_text="HH:MM; before `start` for a night")


class CampaignInputSerializer(serializers.Serializer):
    name = TextField(max_length=100)
    message = TextField(
        trim_whitespace=False, help_text="`{{name}}` placeholders take each recipient's fields"
    )
    recipients = serializers.ListField(child=RecipientField(), allow_empty=False)
    smart_encoding = serializers.BooleanField(default=False)
    send_at = serializers.DateTimeField(
        required=False, allow_null=True, help_text="1 minute to 35 days ahead"
    )
    quiet_hours = QuietHoursSerializer(required=False, allow_null=True)
    valid_for_seconds = serializers.IntegerField(
        required=False, default=86_400, help_text="60 to 3,024,000 (35 days)"
    )


class CampaignSerializer(serializers.ModelSerializer):
    created_by = TextField(source="created_by.username", default=None)
    quiet_hours = QuietHoursSerializer(read_only=True, allow_null=True)

    class Meta:
        model = Campaign
        fields = [
            "id",
            "name",
            "message",
            "body",
            "smart_encoding",
            "encoding",
            "segments_per_message",
            "status",
            "send_at",
            "quiet_hours",
            "valid_for_seconds",
            "created_by",
            "created_at",
            "launched_at",
            "started_at",
            "finished_at",
        ]


class CampaignDetailSerializer(CampaignSerializer):
    counts = serializers.DictField(child=serializers.IntegerField())
    segments_total = serializers.IntegerField()
    segments_sent = serializers.IntegerField()
    eta_seconds = serializers.FloatField(allow_null=True)

    class Meta(CampaignSerializer.Meta):
        fields = [
            *CampaignSerializer.Meta.fields,
            "counts",
            "segments_total",
            "segments_sent",
            "eta_seconds",
        ]


class SmsMessageSerializer(serializers.ModelSerializer):
    class Meta:
        model = SmsMessage
        fields = [
            "id",
            "campaign",
            "to",
            "segments",
            "status",
            "attempts",
            "next_attempt_at",
            "last_error",
            "provider_id",
            "queued_at",
            "sent_at",
            "delivery_status",
            "delivered_at",
        ]


class SmsStatusQuerySerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=SmsMessage.Status.choices, required=False)


class OptOutSerializer(serializers.ModelSerializer):
    class Meta:
        model = OptOut
        fields = ["number", "source", "created_at"]


class OptOutInputSerializer(serializers.Serializer):
    number = TextField(max_length=40)


class InboundHttpSerializer(serializers.Serializer):
    """What the HTTP backend's provider posts for a text it received. Every backend's
    inbound serializer gives `sender`, `to` and `body`: campaigns.inbound.receive's."""

    to = TextField(max_length=32, required=False, allow_blank=True)
    body = TextField(max_length=2000, allow_blank=True, trim_whitespace=False)

    def get_fields(self):
        # `from` is a Python keyword: declared here rather than as an attribute.
        fields = super().get_fields()
        fields["from"] = TextField(max_length=32, source="sender", help_text="the sender's number")
        return fields


class InboundReceivedSerializer(serializers.ModelSerializer):
    class Meta:
        model = InboundSms
        fields = ["id", "sender", "keyword", "received_at"]


class DeliveryReportSerializer(serializers.Serializer):
    """What the HTTP backend's provider posts about a text it accepted. Shape only:
    campaigns.delivery checks the values."""

    reference = TextField(max_length=100)
    status = TextField(max_length=12, help_text='"delivered", "undelivered" or "expired"')
    part = serializers.IntegerField(required=False, allow_null=True, help_text="1-based")
    parts = serializers.IntegerField(
        required=False, allow_null=True, help_text="how many parts the provider made"
    )


class KannelInboundSerializer(serializers.Serializer):
    """Kannel's sms-service get-url, `from=%p&to=%P&text=%a`."""

    to = TextField(max_length=32, required=False, allow_blank=True, help_text="%P")
    text = TextField(
        max_length=2000, required=False, allow_blank=True, trim_whitespace=False, source="body"
    )

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = TextField(
            max_length=32, source="sender", help_text="the sender's number (%p)"
        )
        return fields


class KannelDeliveryReportSerializer(serializers.Serializer):
    """A send's dlr-url as Kannel fills it in (campaigns.backends.kannel)."""

    reference = TextField(max_length=100)
    type = serializers.IntegerField(help_text="Kannel's report type (%d): 1, 2, 4, 8 or 16")
    answer = TextField(
        max_length=500, required=False, allow_blank=True, help_text="the SMS centre's words (%A)"
    )

    def validate(self, attrs):
        attrs["status"] = kannel_status(attrs["type"], attrs.get("answer", ""))
        return attrs


class DeliveryAppliedSerializer(serializers.Serializer):
    known = serializers.BooleanField(help_text="whether the reference names one of our texts")
    delivery_status = TextField(allow_null=True)


class TwilioInboundSerializer(serializers.Serializer):
    """The fields this service reads of Twilio's inbound message webhook (form-encoded;
    Twilio posts more, which are signed and otherwise ignored)."""

    From = TextField(max_length=32, source="sender", help_text="the sender's number, E.164")
    To = TextField(
        max_length=32, required=False, allow_blank=True, source="to", help_text="our number"
    )
    Body = TextField(
        max_length=2000, required=False, allow_blank=True, trim_whitespace=False, source="body"
    )


class TwilioReferenceSerializer(serializers.Serializer):
    """The query of the StatusCallback URL a send gave Twilio (campaigns.backends.twilio)."""

    reference = TextField(max_length=100)


class TwilioDeliveryReportSerializer(serializers.Serializer):
    """The fields this service reads of Twilio's StatusCallback (form-encoded)."""

    MessageStatus = TextField(
        max_length=20,
        help_text="delivered; undelivered or failed; others (queued, sent...) are not final",
    )
    MessageSid = TextField(max_length=64, required=False, allow_blank=True)
    ErrorCode = TextField(max_length=10, required=False, allow_blank=True)

    def validate(self, attrs):
        attrs["status"] = twilio_status(attrs["MessageStatus"])
        return attrs


class PreviewTextSerializer(serializers.Serializer):
    to = TextField()
    body = TextField(help_text="the text as it would be sent, placeholders filled")
    encoding = TextField()
    segments = serializers.IntegerField()
    outcome = TextField(
        help_text="send, deferred (quiet hours), skipped (opted out), expired (deferred past "
        "the validity); for a running campaign, a text's status once past the queue"
    )
    deferred_until = serializers.DateTimeField(allow_null=True)


class CampaignPreviewSerializer(serializers.Serializer):
    recipients = serializers.IntegerField()
    segments = serializers.IntegerField(help_text="of the texts that would be sent")
    encodings = serializers.DictField(
        child=serializers.IntegerField(), help_text="texts that would be sent, per encoding"
    )
    skipped = serializers.IntegerField(help_text="opted out")
    deferred = serializers.IntegerField(help_text="by quiet hours")
    expired = serializers.IntegerField(help_text="deferred past the campaign's validity")
    eta_seconds = serializers.FloatField()
    starts_at = serializers.DateTimeField(help_text="the moment the preview is read for")
    texts = PreviewTextSerializer(many=True, help_text="the first 100 recipients")
