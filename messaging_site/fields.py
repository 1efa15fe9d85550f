"""Serializer fields of the API."""

from rest_framework import serializers


class TextField(serializers.CharField):
    """DRF's CharField, except that only a JSON string is text: DRF turns `0` or `1.5`
    into "0" or "1.5", which the schema (`type: string`) says a client may not send."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)
