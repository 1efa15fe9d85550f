from rest_framework.permissions import IsAuthenticated


class CanSendSms(IsAuthenticated):
    """Members of "Campaign managers" (or anyone granted campaigns.send_sms; superusers)."""

    message = "You need the permission to send SMS (campaigns.send_sms)."

    def has_permission(self, request, view):
        return super().has_permission(request, view) and request.user.has_perm("campaigns.send_sms")
