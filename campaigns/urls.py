from django.urls import path
from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("campaigns", views.CampaignViewSet, basename="campaign")
router.register("sms/opt-outs", views.OptOutViewSet, basename="optout")

urlpatterns = [
    path("sms/segments/", views.SegmentsView.as_view(), name="sms-segments"),
    path("sms/send/", views.SendView.as_view(), name="sms-send"),
    path("sms/inbound/http/", views.InboundHttpView.as_view(), name="sms-inbound-http"),
    path("sms/dlr/http/", views.DeliveryReportHttpView.as_view(), name="sms-dlr-http"),
    *router.urls,
]
