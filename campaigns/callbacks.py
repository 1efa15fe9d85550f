"""What SMS gateways call (SPEC section 14): inbound texts and delivery reports, one pair
of endpoints per backend. No user, no throttle: each backend proves itself its own way
(the HTTP backend's bearer token, the secret in Kannel's URLs, Twilio's signature), and
the views only translate its words into campaigns.inbound and campaigns.delivery."""

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import FormParser
from rest_framework.response import Response
from twilio.twiml.messaging_response import MessagingResponse  # type: ignore[import-untyped]

from . import delivery, inbound
from .permissions import CallbackToken, KannelSecret, TwilioSignature
from .serializers import (
    DeliveryAppliedSerializer,
    DeliveryReportSerializer,
    InboundHttpSerializer,
    InboundReceivedSerializer,
    KannelDeliveryReportSerializer,
    KannelInboundSerializer,
    TwilioDeliveryReportSerializer,
    TwilioInboundSerializer,
    TwilioReferenceSerializer,
)


class ProviderCallbackView(GenericAPIView):
    authentication_classes: list = []
    permission_classes = [CallbackToken]
    throttle_classes: list = []


CALLBACK_REFUSED = OpenApiResponse(description="No, or not this service's, callback token.")
SECRET_REFUSED = OpenApiResponse(description="No, or not this deployment's, KANNEL_SECRET.")


class InboundHttpView(ProviderCallbackView):
    """The HTTP backend's inbound callback, for any provider that speaks it."""

    serializer_class = InboundHttpSerializer

    @extend_schema(responses={200: InboundReceivedSerializer, 403: CALLBACK_REFUSED})
    def post(self, request):
        """A text someone sent: stored; STOP, START or HELP (and their synonyms) acted on,
        with one reply each. `Authorization: Bearer $SMS_CALLBACK_TOKEN`, else 403."""
        data = InboundHttpSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        received = inbound.receive(backend="http", **data.validated_data)
        return Response(InboundReceivedSerializer(received).data)


def _applied(sms) -> Response:
    return Response(
        {
            "known": sms is not None,
            "delivery_status": sms.delivery_status if sms is not None else None,
        }
    )


class DeliveryReportHttpView(ProviderCallbackView):
    """The HTTP backend's delivery-report callback."""

    serializer_class = DeliveryReportSerializer

    @extend_schema(responses={200: DeliveryAppliedSerializer, 403: CALLBACK_REFUSED})
    def post(self, request):
        """What became of a text: `reference` is the one the send gave the provider. A
        replayed or late report changes nothing twice; an unknown reference answers 200
        (`known` false) and is logged. `Authorization: Bearer $SMS_CALLBACK_TOKEN`."""
        data = DeliveryReportSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return _applied(delivery.report(backend="http", **data.validated_data))


def _kannel_ok() -> HttpResponse:
    # An empty 200: Kannel's smsbox texts a get-url's answer back to the sender unless it
    # is empty (and a deployment's sms-service has max-messages = 0 besides). Our own
    # replies go through the limiter (campaigns.inbound).
    return HttpResponse(b"", content_type="text/plain")


KANNEL_SECRET = OpenApiParameter("secret", str, required=True, description="KANNEL_SECRET")
KANNEL_OK = OpenApiResponse(OpenApiTypes.STR, description="Empty: Kannel sends no reply.")


class KannelView(ProviderCallbackView):
    """Kannel calls with GET and its values in the query string (its sms-service
    `get-url`, a send's `dlr-url`); POST with the same query is taken too."""

    permission_classes = [KannelSecret]


class InboundKannelView(KannelView):
    """Kannel's sms-service `get-url`: `?secret=$KANNEL_SECRET&from=%p&to=%P&text=%a`."""

    serializer_class = KannelInboundSerializer

    @extend_schema(
        parameters=[KannelInboundSerializer, KANNEL_SECRET],
        responses={200: KANNEL_OK, 403: SECRET_REFUSED},
    )
    def get(self, request):
        """A text someone sent, as Kannel's sms-service passes it on: STOP, START or HELP
        (and their synonyms) acted on, with one reply each through the limiter."""
        data = KannelInboundSerializer(data=request.query_params)
        data.is_valid(raise_exception=True)
        inbound.receive(backend="kannel", **data.validated_data)
        return _kannel_ok()

    post = get


class DeliveryReportKannelView(KannelView):
    """A send's `dlr-url` (campaigns.backends.kannel), filled in by Kannel:
    `?secret=...&reference=...&type=%d&answer=%A`."""

    serializer_class = KannelDeliveryReportSerializer

    @extend_schema(
        parameters=[KannelDeliveryReportSerializer, KANNEL_SECRET],
        responses={200: KANNEL_OK, 403: SECRET_REFUSED},
    )
    def get(self, request):
        """Type 1 is delivered; 2 undelivered, or expired when the SMS centre's answer
        says EXPIRED; 16 (the SMS centre refused it) undelivered. Other types are not
        final and change nothing. Replays change nothing twice."""
        data = KannelDeliveryReportSerializer(data=request.query_params)
        data.is_valid(raise_exception=True)
        status = data.validated_data["status"]
        if status is not None:
            delivery.report(
                backend="kannel", reference=data.validated_data["reference"], status=status
            )
        return _kannel_ok()

    post = get


def _twiml_ok() -> HttpResponse:
    # An empty TwiML answer: Twilio texts the sender whatever <Message> an inbound
    # webhook's answer holds. Our own replies go through the limiter (campaigns.inbound).
    return HttpResponse(str(MessagingResponse()), content_type="application/xml")


# The schema's parsers are JSON only (SPECTACULAR_SETTINGS): Twilio's form is named here.
FORM = "application/x-www-form-urlencoded"
SIGNATURE_REFUSED = OpenApiResponse(description="No, or not this account's, X-Twilio-Signature.")
TWIML_OK = {
    (200, "application/xml"): OpenApiResponse(
        OpenApiTypes.STR, description="An empty TwiML `<Response/>`: Twilio sends no reply."
    ),
    403: SIGNATURE_REFUSED,
}


class TwilioView(ProviderCallbackView):
    """Twilio posts its webhooks form-encoded and signs that form (permissions
    .TwilioSignature): no other body is read."""

    permission_classes = [TwilioSignature]
    parser_classes = [FormParser]


class InboundTwilioView(TwilioView):
    """Twilio's inbound message webhook ("A message comes in" on the number or messaging
    service): `$SMS_CALLBACK_BASE_URL/api/sms/inbound/twilio/`, HTTP POST."""

    serializer_class = TwilioInboundSerializer

    @extend_schema(request={FORM: TwilioInboundSerializer}, responses=TWIML_OK)
    def post(self, request):
        """A text someone sent, as Twilio passes it on: STOP, START or HELP (and their
        synonyms) acted on, with one reply each through the limiter, not in the TwiML."""
        data = TwilioInboundSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        inbound.receive(backend="twilio", **data.validated_data)
        return _twiml_ok()


class DeliveryReportTwilioView(TwilioView):
    """A send's StatusCallback (campaigns.backends.twilio): `?reference=...` in the URL,
    Twilio's `MessageStatus` in the form."""

    serializer_class = TwilioDeliveryReportSerializer

    @extend_schema(
        parameters=[TwilioReferenceSerializer],
        request={FORM: TwilioDeliveryReportSerializer},
        responses=TWIML_OK,
    )
    def post(self, request):
        """`delivered` is delivered; `undelivered` and `failed` undelivered. Other statuses
        (queued, sending, sent...) are not final and change nothing. Replays change nothing
        twice; an unknown reference answers 200 and is logged."""
        query = TwilioReferenceSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = TwilioDeliveryReportSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        status = data.validated_data["status"]
        if status is not None:
            delivery.report(
                backend="twilio", reference=query.validated_data["reference"], status=status
            )
        return _twiml_ok()
