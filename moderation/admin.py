from django.contrib import admin

from messaging_site.readonly_admin import ReadOnlyAdmin

from .models import AuditEntry


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    """Read-only: entries are written by the acts they record, and never changed."""

    list_display = [
        "created_at",
        "actor",
        "action",
        "right",
        "target_user",
        "conversation_id",
        "message_id",
        "board_id",
        "detail",
    ]
    list_filter = ["action", "right", "created_at"]
    search_fields = ["actor__username", "target_user__username", "detail"]
    list_select_related = ["actor", "target_user"]
    date_hierarchy = "created_at"
