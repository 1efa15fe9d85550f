from rest_framework.permissions import IsAuthenticated

from .selectors import NOT_A_SENDER, can_send_sms


class CanSendSms(IsAuthenticated):
    """REST's door to campaigns.selectors.can_send_sms, the one check."""

    message = NOT_A_SENDER

    def has_permission(self, request, view):
        return super().has_permission(request, view) and can_send_sms(request.user)
