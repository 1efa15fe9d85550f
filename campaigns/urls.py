from django.urls import path
from rest_framework.routers import SimpleRouter

from . import callbacks, views

router = SimpleRouter()
router.register("campaigns", views.CampaignViewSet, basename="campaign")
router.register("sms/opt-outs", views.OptOutViewSet, basename="optout")

urlpatterns = [
    path("sms/segments/", views.SegmentsView.as_view(), name="sms-segments"),
    path("sms/send/", views.SendView.as_view(), name="sms-send"),
    path("sms/inbound/http/", callbacks.InboundHttpView.as_view(), name="sms-inbound-http"),
    path("sms/dlr/http/", callbacks.DeliveryReportHttpView.as_view(), name="sms-dlr-http"),
    path("sms/inbound/kannel/", callbacks.InboundKannelView.as_view(), name="sms-inbound-kannel"),
    path("sms/dlr/kannel/", callbacks.DeliveryReportKannelView.as_view(), name="sms-dlr-kannel"),
    path("sms/inbound/twilio/", callbacks.InboundTwilioView.as_view(), name="sms-inbound-twilio"),
    path("sms/dlr/twilio/", callbacks.DeliveryReportTwilioView.as_view(), name="sms-dlr-twilio"),
    *router.urls,
]
