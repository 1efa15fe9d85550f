import hmac

from django.conf import settings
from rest_framework.permissions import BasePermission, IsAuthenticated
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from .selectors import NOT_A_SENDER, can_send_sms


class CanSendSms(IsAuthenticated):
    """REST's door to campaigns.selectors.can_send_sms, the one check."""

    message = NOT_A_SENDER

    def has_permission(self, request, view):
        return super().has_permission(request, view) and can_send_sms(request.user)


class ProviderProof(BasePermission):
    """What an SMS provider's callback must bring (SPEC section 14), `proven` by each
    backend's own means; with nothing configured to check it against, nobody passes."""

    def has_permission(self, request, view) -> bool:
        if not hasattr(view, request.method.lower()):
            return True  # a method the view does not take: its 405, not a 403
        return self.proven(request)

    def proven(self, request) -> bool:
        raise NotImplementedError


def _same(given: str, expected: str) -> bool:
    """In constant time, and never for an empty secret."""
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


class CallbackToken(ProviderProof):
    """`Authorization: Bearer $SMS_CALLBACK_TOKEN` (the HTTP backend)."""

    message = "A callback needs `Authorization: Bearer` with this service's SMS_CALLBACK_TOKEN."

    def proven(self, request) -> bool:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        return scheme.lower() == "bearer" and _same(token.strip(), settings.SMS_CALLBACK_TOKEN)


class KannelSecret(ProviderProof):
    """`?secret=$KANNEL_SECRET` in the URL Kannel calls."""

    message = "A Kannel callback needs this deployment's KANNEL_SECRET as `secret`."

    def proven(self, request) -> bool:
        return _same(request.query_params.get("secret", ""), settings.KANNEL_SECRET)


class TwilioSignature(ProviderProof):
    """`X-Twilio-Signature`: Twilio's HMAC, with the account's TWILIO_AUTH_TOKEN, of the URL
    it called and the form it posted, checked with the twilio package's RequestValidator.

    Behind a proxy this service sees another URL than the one Twilio called and signed:
    that one is SMS_CALLBACK_BASE_URL with the path and query, which is what the backend
    gave Twilio (campaigns.backends.twilio). The URL as this service sees it
    (`build_absolute_uri`) is taken too, for a deployment Twilio reaches directly; both
    name this endpoint, so neither accepts a signature made for another.
    """

    message = "A Twilio webhook needs a valid X-Twilio-Signature for this account."

    def proven(self, request) -> bool:
        token = settings.TWILIO_AUTH_TOKEN
        signature = request.headers.get("X-Twilio-Signature", "")
        if not token or not signature:
            return False
        validator = RequestValidator(token)
        form = request.POST  # the form Twilio signed, as it was posted
        return any(validator.validate(url, form, signature) for url in _signed_urls(request))


def _signed_urls(request) -> list[str]:
    urls = [request.build_absolute_uri()]
    base = settings.SMS_CALLBACK_BASE_URL.rstrip("/")
    if base:
        query = request.META.get("QUERY_STRING", "")
        urls.insert(0, f"{base}{request.path_info}" + (f"?{query}" if query else ""))
    return urls
