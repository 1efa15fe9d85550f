from django.contrib import admin, messages
from django.template.defaultfilters import truncatechars

from . import services
from .models import Board, BoardMessage


def _set_locked(modeladmin, request, queryset, *, locked: bool) -> None:
    # Per board through the service, so the admin takes the same path as any future
    # interface (and whatever the service later adds, such as telling subscribers).
    count = 0
    for board in queryset:
        services.board_set_locked(actor=request.user, board=board, locked=locked)
        count += 1
    verb = "Locked" if locked else "Unlocked"
    modeladmin.message_user(request, f"{verb} {count} board(s).", messages.SUCCESS)


@admin.action(description="Lock selected boards", permissions=["moderate"])
def lock_boards(modeladmin, request, queryset):
    _set_locked(modeladmin, request, queryset, locked=True)


@admin.action(description="Unlock selected boards", permissions=["moderate"])
def unlock_boards(modeladmin, request, queryset):
    _set_locked(modeladmin, request, queryset, locked=False)


@admin.register(Board)
class BoardAdmin(admin.ModelAdmin):
    list_display = ["name", "locked", "created_by", "created_at"]
    list_filter = ["locked"]
    search_fields = ["name"]
    list_select_related = ["created_by"]
    # Locking goes only through the actions, so it always passes board_set_locked.
    readonly_fields = ["locked", "created_by", "created_at"]
    actions = [lock_boards, unlock_boards]

    def has_moderate_permission(self, request):
        # The actions are offered only to whom board_set_locked would let through.
        return request.user.has_perm("boards.moderate")

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(BoardMessage)
class BoardMessageAdmin(admin.ModelAdmin):
    list_display = ["id", "board", "topic", "user", "data_preview", "created_at"]
    list_filter = ["board"]
    search_fields = ["topic", "data", "user__username"]
    list_select_related = ["board", "user"]
    raw_id_fields = ["board", "user"]
    # Counting every post for "N total" is a full scan on a big table.
    show_full_result_count = False

    @admin.display(description="data")
    def data_preview(self, obj):
        return truncatechars(obj.data, 80)

    # Posts are written only through board_post (limits, lock, live broadcast); moderators
    # read, correct and delete them here.
    def has_add_permission(self, request):
        return False
