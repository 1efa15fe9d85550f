import hmac

from django.conf import settings
from rest_framework.permissions import BasePermission, IsAuthenticated

from .selectors import NOT_A_SENDER, can_send_sms


class CanSendSms(IsAuthenticated):
    """REST's door to campaigns.selectors.can_send_sms, the one check."""

    message = NOT_A_SENDER

    def has_permission(self, request, view):
        return super().has_permission(request, view) and can_send_sms(request.user)


class CallbackToken(BasePermission):
    """`Authorization: Bearer $SMS_CALLBACK_TOKEN`, compared in constant time; with no
    token configured, nobody."""

    message = "A callback needs `Authorization: Bearer` with this service's SMS_CALLBACK_TOKEN."

    def has_permission(self, request, view) -> bool:
        if not hasattr(view, request.method.lower()):
            return True  # a method the view does not take: its 405, not a 403
        expected = settings.SMS_CALLBACK_TOKEN
        given = request.headers.get("Authorization", "")
        scheme, _, token = given.partition(" ")
        return (
            bool(expected)
            and scheme.lower() == "bearer"
            and hmac.compare_digest(token.strip().encode(), expected.encode())
        )


class KannelSecret(BasePermission):
    """`?secret=$KANNEL_SECRET` in the URL Kannel calls, compared in constant time; with
    no secret configured, nobody."""

    message = "A Kannel callback needs this deployment's KANNEL_SECRET as `secret`."

    def has_permission(self, request, view) -> bool:
        if not hasattr(view, request.method.lower()):
            return True
        expected = settings.KANNEL_SECRET
        given = request.query_params.get("secret", "")
        return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())
