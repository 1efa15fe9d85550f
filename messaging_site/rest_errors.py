"""REST's answer to the domain errors of messaging_site.errors: DRF's usual responses."""

from django.http import JsonResponse
from django.views.defaults import page_not_found
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from .errors import DomainError, Invalid, RateLimited


def exception_handler(exc, context):
    """DRF's handler, taught our domain errors.

    Field errors keep DRF's shape (`{"field": ["..."]}`); everything else is
    `{"detail": "...", "code": "..."}` so clients can tell `blocked` from other 403s.
    """
    if isinstance(exc, Invalid) and exc.fields:
        return Response(exc.fields, status=exc.status_code)
    if isinstance(exc, DomainError):
        headers = {}
        if isinstance(exc, RateLimited) and exc.retry_after is not None:
            headers["Retry-After"] = str(max(1, round(exc.retry_after)))
        return Response(
            {"detail": exc.message, "code": exc.code}, status=exc.status_code, headers=headers
        )
    response = drf_exception_handler(exc, context)
    if (
        response is not None
        and isinstance(response.data, dict)
        and set(response.data) == {"detail"}
    ):
        response.data["code"] = getattr(response.data["detail"], "code", None) or "error"
    return response


def not_found(request, exception):
    """Django's 404 (no URL matched: a word where an id goes, an id past 64 bits) as REST's
    JSON under /api/, the page elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found.", "code": "not_found"}, status=404)
    return page_not_found(request, exception)
