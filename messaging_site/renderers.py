"""Renderers: JSON that may arrive already encoded, and DRF's HTML pages (browsable API,
its login page) under our Content-Security-Policy.

The HTML templates carry inline `style` attributes, so these pages, and only these, allow
inline styles. Scripts stay limited to our own files everywhere.
"""

import json

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.utils.csp import CSP, build_policy
from django.views.decorators.csp import csp_override
from rest_framework import renderers

from .pagination import PrerenderedJSON


def inline_style_policy() -> dict:
    return {**settings.SECURE_CSP, "style-src": [CSP.SELF, CSP.UNSAFE_INLINE]}


class JSONRenderer(renderers.JSONRenderer):
    """DRF's, passing a body PostgreSQL already encoded (chat.listing) through untouched,
    unless it is to be indented (`; indent=4`, and the browsable API's display)."""

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, PrerenderedJSON):
            if not self.get_indent(accepted_media_type, renderer_context or {}):
                return data.encode()
            data = json.loads(data)
        return super().render(data, accepted_media_type, renderer_context)


class BrowsableAPIRenderer(renderers.BrowsableAPIRenderer):
    def render(self, data, accepted_media_type=None, renderer_context=None):
        response = (renderer_context or {}).get("response")
        if response is not None:
            # Django's CSP middleware leaves a policy the response already carries.
            response.headers[CSP.HEADER_ENFORCE] = build_policy(inline_style_policy())
        return super().render(data, accepted_media_type, renderer_context)

    def get_filter_form(self, data, view, request):
        # DRF asks the view for its queryset before it knows whether any filter backend
        # draws a form; our list views that build their pages from selectors have no
        # queryset attribute, and the page failed with a 500 (tests/test_browsable_api.py).
        backends = getattr(view, "filter_backends", None) or ()
        if not any(hasattr(backend, "to_html") for backend in backends):
            return None
        return super().get_filter_form(data, view, request)


def api_login_view():
    """DRF's login page for the browsable API (what `rest_framework.urls` would give)."""
    return csp_override(inline_style_policy())(
        auth_views.LoginView.as_view(template_name="rest_framework/login.html")
    )
