"""What every page's frame needs to know of the signed-in user."""

from django.http import HttpRequest

from campaigns.selectors import can_send_sms


def navigation(request: HttpRequest) -> dict[str, bool]:
    """`can_send_sms`: whether the Campaigns entry shows (campaigns.selectors' one check,
    the same the campaign pages enforce)."""
    return {"can_send_sms": can_send_sms(request.user)}
