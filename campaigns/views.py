"""REST for SMS and campaigns (the OpenAPI schema, /api/schema/), for holders of
campaigns.send_sms."""

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from . import delivery, inbound, selectors, services
from .permissions import CallbackToken, CanSendSms
from .serializers import (
    CampaignDetailSerializer,
    CampaignInputSerializer,
    CampaignSerializer,
    DeliveryAppliedSerializer,
    DeliveryReportSerializer,
    InboundHttpSerializer,
    InboundReceivedSerializer,
    OptOutInputSerializer,
    OptOutSerializer,
    SegmentsInputSerializer,
    SegmentsSerializer,
    SendInputSerializer,
    SendSerializer,
    SmsMessageSerializer,
    SmsStatusQuerySerializer,
)


class SegmentsView(GenericAPIView):
    permission_classes = [CanSendSms]
    serializer_class = SegmentsInputSerializer

    @extend_schema(responses=SegmentsSerializer)
    def post(self, request):
        """Preview encoding and segments for a text; sends nothing."""
        data = SegmentsInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        _, info = services.prepare_body(**data.validated_data)
        return Response(SegmentsSerializer(info).data)


class SendView(GenericAPIView):
    permission_classes = [CanSendSms]
    serializer_class = SendInputSerializer

    @extend_schema(
        responses={202: SendSerializer},
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER)],
    )
    def post(self, request):
        """Queue a text to each number. With an Idempotency-Key, a retry sends nothing new."""
        data = SendInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)

        def produce():
            return status.HTTP_202_ACCEPTED, services.sms_send(
                actor=request.user, **data.validated_data
            )

        code, body = services.idempotent(
            user=request.user,
            key=request.headers.get("Idempotency-Key"),
            request_data=data.validated_data,
            produce=produce,
        )
        return Response(body, status=code)


class CampaignViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    permission_classes = [CanSendSms]
    serializer_class = CampaignSerializer
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        return selectors.campaigns_for_sender(user=self.request.user)

    def _detail(self, campaign, code=status.HTTP_200_OK):
        """The campaign and its progress: CampaignDetailSerializer's shape."""
        progress = selectors.campaign_progress(campaign=campaign)
        return Response({**CampaignSerializer(campaign).data, **progress}, status=code)

    def _campaign(self, pk):
        return selectors.campaign_for_sender(user=self.request.user, campaign_id=int(pk))

    @extend_schema(request=CampaignInputSerializer, responses={201: CampaignDetailSerializer})
    def create(self, request):
        """A draft campaign; nothing is sent until it is launched."""
        data = CampaignInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        campaign = services.campaign_create(actor=request.user, **data.validated_data)
        return self._detail(campaign, status.HTTP_201_CREATED)

    @extend_schema(responses=CampaignDetailSerializer)
    def retrieve(self, request, pk):
        """With counts per status, segments total and sent, and the time left."""
        return self._detail(self._campaign(pk))

    @extend_schema(request=None, responses={202: CampaignDetailSerializer})
    @action(detail=True, methods=["post"])
    def launch(self, request, pk):
        campaign = services.campaign_launch(campaign=self._campaign(pk))
        return self._detail(campaign, status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses=CampaignDetailSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk):
        campaign = services.campaign_cancel(campaign=self._campaign(pk))
        return self._detail(campaign)

    @extend_schema(parameters=[SmsStatusQuerySerializer], responses=SmsMessageSerializer(many=True))
    @action(detail=True)
    def messages(self, request, pk):
        query = SmsStatusQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        messages = selectors.campaign_messages(
            campaign=self._campaign(pk), status=query.validated_data.get("status")
        )
        page = self.paginate_queryset(messages)
        return self.get_paginated_response(SmsMessageSerializer(page, many=True).data)


class OptOutViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    permission_classes = [CanSendSms]
    serializer_class = OptOutSerializer
    queryset = selectors.opt_outs()
    lookup_field = "number"
    lookup_value_regex = r"[^/]+"

    @extend_schema(
        request=OptOutInputSerializer, responses={201: OptOutSerializer, 200: OptOutSerializer}
    )
    def create(self, request):
        data = OptOutInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        optout, created = services.optout_add(
            number=data.validated_data["number"], actor=request.user
        )
        return Response(
            OptOutSerializer(optout).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )

    def destroy(self, request, number):
        services.optout_remove(number=number, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ProviderCallbackView(GenericAPIView):
    """What an SMS provider calls (SPEC section 14): no user, no throttle, its own token."""

    authentication_classes: list = []
    permission_classes = [CallbackToken]
    throttle_classes: list = []


CALLBACK_REFUSED = OpenApiResponse(description="No, or not this service's, callback token.")


class InboundHttpView(ProviderCallbackView):
    """The HTTP backend's inbound callback (SPEC section 14), for any provider that speaks
    it; the provider, not a user, calls it."""

    serializer_class = InboundHttpSerializer

    @extend_schema(
        responses={
            200: InboundReceivedSerializer,
            403: CALLBACK_REFUSED,
        }
    )
    def post(self, request):
        """A text someone sent: stored; STOP, START or HELP (and their synonyms) acted on,
        with one reply each. `Authorization: Bearer $SMS_CALLBACK_TOKEN`, else 403."""
        data = InboundHttpSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        received = inbound.receive(
            backend="http",
            sender=data.validated_data["from"],
            to=data.validated_data.get("to", ""),
            body=data.validated_data["body"],
        )
        return Response(InboundReceivedSerializer(received).data)


class DeliveryReportHttpView(ProviderCallbackView):
    """The HTTP backend's delivery-report callback (SPEC section 14)."""

    serializer_class = DeliveryReportSerializer

    @extend_schema(
        responses={
            200: DeliveryAppliedSerializer,
            403: CALLBACK_REFUSED,
        }
    )
    def post(self, request):
        """What became of a text: `reference` is the one the send gave the provider. A
        replayed or late report changes nothing twice; an unknown reference answers 200
        (`known` false) and is logged. `Authorization: Bearer $SMS_CALLBACK_TOKEN`."""
        data = DeliveryReportSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        sms = delivery.report(backend="http", **data.validated_data)
        return Response(
            {
                "known": sms is not None,
                "delivery_status": sms.delivery_status if sms is not None else None,
            }
        )
