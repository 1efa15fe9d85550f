"""What the database knows about SMS, read when Prometheus scrapes /metrics (handed to
messaging_site.metrics.MetricsView by messaging_site.urls)."""

from django.db.models import Count
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from .models import Campaign, SmsMessage


class SmsRecords(Collector):
    """Records per status and per delivery report, and campaigns per status: two grouped
    counts over the records' table per scrape (one query each)."""

    def collect(self):
        records = GaugeMetricFamily(
            "messaging_sms_records", "SMS records now, by status.", labels=["status"]
        )
        counts = dict.fromkeys(SmsMessage.Status.values, 0)
        counts.update(SmsMessage.objects.order_by().values_list("status").annotate(n=Count("id")))
        for status, n in counts.items():
            records.add_metric([status], n)
        yield records
        delivery = GaugeMetricFamily(
            "messaging_sms_delivery_reports",
            "Sent records by their delivery report (awaited: none yet).",
            labels=["status"],
        )
        for status, n in (
            SmsMessage.objects.filter(status=SmsMessage.Status.SENT)
            .order_by()
            .values_list("delivery_status")
            .annotate(n=Count("id"))
        ):
            delivery.add_metric([status or "awaited"], n)
        yield delivery
        campaigns = GaugeMetricFamily(
            "messaging_campaigns", "Campaigns now, by status.", labels=["status"]
        )
        counts = dict.fromkeys(Campaign.Status.values, 0)
        counts.update(Campaign.objects.order_by().values_list("status").annotate(n=Count("id")))
        for status, n in counts.items():
            campaigns.add_metric([status], n)
        yield campaigns
