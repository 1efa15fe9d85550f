from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from rest_framework.authtoken.admin import TokenAdmin as DrfTokenAdmin
from rest_framework.authtoken.models import TokenProxy

from . import services
from .models import ApiToken, Block, User


@admin.action(description="Deactivate selected users (signs them out, closes their sockets)")
def deactivate_users(modeladmin, request, queryset):
    count = services.users_deactivate(actor=request.user, users=queryset)
    modeladmin.message_user(request, f"Deactivated {count} user(s).", messages.SUCCESS)


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ["username", "name", "email", "is_active", "is_staff", "date_joined"]
    list_filter = ["is_active", "is_staff", "is_superuser", "groups", "date_joined"]
    search_fields = ["username", "name", "email"]
    ordering = ["username"]
    actions = [deactivate_users]
    fieldsets = [
        (None, {"fields": ["username", "password"]}),
        ("Profile", {"fields": ["name", "email"]}),
        (
            "Permissions",
            {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]},
        ),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [
        (
            None,
            {
                "classes": ["wide"],
                "fields": [
                    "username",
                    "name",
                    "email",
                    "usable_password",
                    "password1",
                    "password2",
                ],
            },
        ),
    ]

    def has_delete_permission(self, request, obj=None):
        # People are deactivated, never deleted: their messages keep their sender.
        return False

    def save_model(self, request, obj, form, change):
        # Unticking "active" must have the same effects as the action: tokens revoked and
        # sockets closed, so it goes through the same service.
        # First, while the row is still active, so the service sees the change it makes.
        if change and "is_active" in form.changed_data and not obj.is_active:
            services.users_deactivate(actor=request.user, users=[obj])
        super().save_model(request, obj, form, change)


@admin.register(Block)
class BlockAdmin(admin.ModelAdmin):
    list_display = ["blocker", "blocked", "created_at"]
    list_select_related = ["blocker", "blocked"]
    list_filter = ["created_at"]
    search_fields = ["blocker__username", "blocked__username"]
    autocomplete_fields = ["blocker", "blocked"]
    date_hierarchy = "created_at"


admin.site.unregister(TokenProxy)


@admin.register(ApiToken)
class TokenAdmin(DrfTokenAdmin):
    """Tokens by prefix: a moderator can tell them apart and revoke one, never use it."""

    list_display = ["prefix", "user", "created"]

    def lookup_allowed(self, lookup, value, request):
        # Admin takes filters on a model's own fields from the URL: `?key__startswith=`
        # would tell, one character at a time, whether a key goes on.
        if lookup.split("__")[0] in {"key", "pk", "digest"}:
            return False
        return super().lookup_allowed(lookup, value, request)

    def delete_model(self, request, obj):
        services.tokens_revoke(actor=request.user, tokens=[obj])

    def delete_queryset(self, request, queryset):
        services.tokens_revoke(actor=request.user, tokens=list(queryset))

    @admin.display(description="key")
    def prefix(self, token):
        return str(token)  # ApiToken's: the prefix

    def get_fields(self, request, obj=None):
        return ["user", "prefix", "created"] if obj is not None else ["user"]

    def get_readonly_fields(self, request, obj=None):
        return ["user", "prefix", "created"] if obj is not None else []

    list_select_related = ["user"]
    list_filter = ["created", "user__is_active"]
    search_fields = ["user__username", "user__email"]
