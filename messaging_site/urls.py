from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import URLPattern, URLResolver, include, path, register_converter
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from campaigns.metrics import SmsRecords

from .converters import IdConverter
from .health import healthz
from .metrics import MetricsView
from .renderers import api_login_view
from .throttling import LoginThrottle, throttled

# Before the apps' tables below are read: they name ids `<id:...>`.
register_converter(IdConverter, "id")

api_patterns: list[URLPattern | URLResolver] = [
    path("", include("accounts.urls")),
    path("", include("boards.urls")),
    path("", include("chat.urls")),
    path("", include("campaigns.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's bootstrap as a separate script, so the page runs
    # under our Content-Security-Policy (no inline scripts).
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="docs"),
]

handler404 = "messaging_site.rest_errors.not_found"
handler500 = "messaging_site.rest_errors.server_error"

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    # Read when scraped: what the database knows (messaging_site.metrics).
    path("metrics", MetricsView.as_view(scraped=(SmsRecords(),)), name="metrics"),
    # Every password check counts against the address's budget (messaging_site.throttling).
    path("admin/login/", throttled(LoginThrottle)(admin.site.login)),
    path("admin/", admin.site.urls),
    path("api/", include(api_patterns)),
    path(
        "api-auth/",
        include(
            (
                [
                    path("login/", throttled(LoginThrottle)(api_login_view()), name="login"),
                    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
                ],
                "rest_framework",
            )
        ),
    ),
    path("", include("web.urls")),
]
