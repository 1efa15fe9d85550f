"""What the database knows about SMS, read when Prometheus scrapes /metrics (handed to
messaging_site.metrics.MetricsView by messaging_site.urls)."""

from django.db.models import Count
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from .models import Campaign, SmsMessage


class SmsRecords(Collector):
    """Records per status and per delivery report, and campaigns per status: three grouped
    counts per scrape (one query each)."""

    def collect(self):
        yield _by_status(
            "messaging_sms_records",
            "SMS records now, by status.",
            SmsMessage.objects.values_list("status"),
            SmsMessage.Status.values,
        )
        yield _by_status(
            "messaging_sms_delivery_reports",
            "Sent records by their delivery report (awaited: none yet).",
            SmsMessage.objects.filter(status=SmsMessage.Status.SENT).values_list("delivery_status"),
            [value or "awaited" for value in SmsMessage.Delivery.values],
        )
        yield _by_status(
            "messaging_campaigns",
            "Campaigns now, by status.",
            Campaign.objects.values_list("status"),
            Campaign.Status.values,
        )


def _by_status(name: str, documentation: str, values, statuses: list[str]) -> GaugeMetricFamily:
    """A gauge of the rows per value of the one column `values` lists, every known value
    shown (at 0 when none), so that a series does not vanish when its last row moves on."""
    family = GaugeMetricFamily(name, documentation, labels=["status"])
    counts = dict.fromkeys(statuses, 0)
    for status, n in values.order_by().annotate(n=Count("id")):
        counts[status or "awaited"] = n
    for status, n in counts.items():
        family.add_metric([status], n)
    return family
