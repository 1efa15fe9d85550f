"""Reading /metrics in tests (messaging_site.metrics; the `scrape` fixture is in
conftest.py)."""

from prometheus_client.parser import text_string_to_metric_families

TOKEN = "metrics-test-token-0123456789"


def value(text: str, series: str, **labels) -> float:
    """One sample's value in a scrape, by its name and labels (0 when it is not there
    yet: a labelled series appears with its first sample)."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == series and sample.labels == labels:
                return sample.value
    return 0.0
