"""REST for SMS and campaigns (the OpenAPI schema, /api/schema/), for holders of
campaigns.send_sms."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from . import selectors, services
from .permissions import CanSendSms
from .serializers import (
    CampaignDetailSerializer,
    CampaignInputSerializer,
    CampaignPreviewSerializer,
    CampaignSerializer,
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
        """Start sending; with a `send_at` still ahead, `scheduled` until then."""
        campaign = services.campaign_launch(campaign=self._campaign(pk))
        return self._detail(campaign, status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses=CampaignPreviewSerializer)
    @action(detail=True, methods=["post"])
    def preview(self, request, pk):
        """What launching would do: totals (recipients, segments, encodings, skipped as
        opted out, deferred by quiet hours, the ETA) and the first 100 recipients with
        their texts. Sends nothing, changes nothing."""
        preview = selectors.campaign_preview(campaign=self._campaign(pk))
        return Response(CampaignPreviewSerializer(preview).data)

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
