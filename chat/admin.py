"""Moderation in Django admin. Every change goes through chat.services,
so admin edits obey the same rules, and later push the same events, as REST and WebSocket."""

from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html
from django.utils.text import Truncator

from messaging_site.errors import DomainError

from . import memberships, services
from .models import Conversation, Membership, Message, MessageEdit, Upload


def _each(modeladmin, request, queryset, label, change):
    done, failed = 0, []
    for obj in queryset:
        try:
            change(obj)
            done += 1
        except DomainError as error:
            failed.append(f"{obj}: {error.message}")
    modeladmin.message_user(request, f"{label}: {done}.", messages.SUCCESS)
    for failure in failed:
        modeladmin.message_user(request, failure, messages.WARNING)


class MembershipInline(admin.TabularInline):
    model = Membership
    fields = readonly_fields = ("user", "role", "status", "joined_at", "read_seq", "delivered_seq")
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "name", "last_seq", "last_message_at", "created_by", "created_at"]
    list_filter = ["kind", "created_at"]
    search_fields = ["name", "=id"]
    list_select_related = ["created_by"]
    readonly_fields = [
        "kind",
        "last_seq",
        "last_message_at",
        "created_by",
        "created_at",
        "direct_low",
        "direct_high",
    ]
    fields = ["kind", "name", *readonly_fields[1:]]
    inlines = [MembershipInline]
    show_full_result_count = False

    def has_add_permission(self, request):
        # Conversations are created by people, through the services; admin moderates.
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.action(description="Remove selected members")
def remove_members(modeladmin, request, queryset):
    _each(
        modeladmin,
        request,
        queryset.select_related("conversation", "user"),
        "Removed",
        lambda m: memberships.membership_remove(
            actor=request.user, conversation=m.conversation, user_id=m.user_id
        ),
    )


@admin.action(description="Ban selected members")
def ban_members(modeladmin, request, queryset):
    _each(
        modeladmin,
        request,
        queryset.select_related("conversation", "user"),
        "Banned",
        lambda m: memberships.membership_ban(
            actor=request.user, conversation=m.conversation, user_id=m.user_id
        ),
    )


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "conversation", "role", "status", "joined_at", "read_seq"]
    list_filter = ["status", "role", "conversation__kind"]
    search_fields = ["user__username", "conversation__name", "=conversation__id"]
    list_select_related = ["user", "conversation"]
    readonly_fields = [
        "conversation",
        "user",
        "role",
        "status",
        "joined_at",
        "read_seq",
        "delivered_seq",
        "created_at",
        "updated_at",
    ]
    actions = [remove_members, ban_members]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.action(description="Delete selected messages (tombstone: text cleared, seq kept)")
def tombstone_messages(modeladmin, request, queryset):
    _each(
        modeladmin,
        request,
        queryset.select_related("conversation"),
        "Deleted",
        lambda m: services.message_tombstone(actor=request.user, message=m),
    )


class MessageEditInline(admin.TabularInline):
    """The texts a message had before its sender's edits, oldest first (read only)."""

    model = MessageEdit
    fields = readonly_fields = ("text", "written_at", "replaced_at")
    ordering = ["replaced_at", "id"]
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class UploadInline(admin.TabularInline):
    """The files a message carries (read only; deleting the message deletes them)."""

    model = Upload
    fields = readonly_fields = ("download", "content_type", "size", "width", "height")
    ordering = ["position"]
    extra = 0
    can_delete = False

    @admin.display(description="file")
    def download(self, upload):
        return format_html(
            '<a href="{}">{}</a>', reverse("upload-file", args=[upload.pk]), upload.name
        )

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ["id", "conversation", "seq", "sender", "preview", "created_at", "deleted"]
    list_filter = ["conversation__kind", ("deleted_at", admin.EmptyFieldListFilter), "created_at"]
    search_fields = ["text", "sender__username", "=conversation__id"]
    list_select_related = ["conversation", "sender"]
    readonly_fields = [
        "conversation",
        "seq",
        "sender",
        "text",
        "client_id",
        "created_at",
        "edited_at",
        "deleted_at",
    ]
    inlines = [UploadInline, MessageEditInline]
    actions = [tombstone_messages]
    show_full_result_count = False
    date_hierarchy = None

    @admin.display(description="text")
    def preview(self, message):
        return Truncator(message.text).chars(80)

    @admin.display(boolean=True, description="deleted")
    def deleted(self, message):
        return message.deleted_at is not None

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        # Viewing only; the one change moderators make is the tombstone action.
        return False

    def has_delete_permission(self, request, obj=None):
        return False
