"""DRF's token authentication, with the lookup of `accounts.tokens.user_for_token`."""

from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions

from messaging_site import logs

from .tokens import user_for_token


class TokenAuthentication(authentication.TokenAuthentication):
    """Same header, errors and `request.auth` (the Token) as DRF's class."""

    def authenticate_credentials(self, key):
        found = user_for_token(key)
        if found is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        user, token = found
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        logs.bind(user_id=user.pk)  # the request's context (messaging_site.logs)
        return user, token
