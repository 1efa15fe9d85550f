import csv

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, Q
from django.http import HttpResponse

from messaging_site.errors import DomainError
from messaging_site.readonly_admin import ReadOnlyAdmin

from . import services
from .models import Campaign, ConsentEvent, InboundSms, OptOut, SmsMessage

Status = SmsMessage.Status


@admin.action(description="Cancel selected campaigns")
def cancel_campaigns(modeladmin, request, queryset):
    done = 0
    for campaign in queryset:
        try:
            services.campaign_cancel(campaign=campaign)
            done += 1
        except DomainError as error:
            modeladmin.message_user(request, f"{campaign}: {error.message}", messages.WARNING)
    modeladmin.message_user(request, f"Cancelled {done} campaign(s).", messages.SUCCESS)


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "status",
        "encoding",
        "segments_per_message",
        "recipients",
        "sent",
        "failed",
        "created_by",
        "created_at",
    ]
    list_filter = ["status", "encoding", "created_at"]
    search_fields = ["name", "message"]
    list_select_related = ["created_by"]
    # When and how it sends is set at create, through campaigns.services, which checks it.
    readonly_fields = [
        "body",
        "encoding",
        "segments_per_message",
        "status",
        "send_at",
        "quiet_start",
        "quiet_end",
        "valid_for_seconds",
        "created_by",
        "created_at",
        "launched_at",
        "started_at",
        "finished_at",
    ]
    actions = [cancel_campaigns]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                recipient_count=Count("messages"),
                sent_count=Count("messages", filter=Q(messages__status=Status.SENT)),
                failed_count=Count(
                    "messages", filter=Q(messages__status__in=[Status.FAILED, Status.DEAD])
                ),
            )
        )

    @admin.display(ordering="recipient_count")
    def recipients(self, campaign):
        return campaign.recipient_count

    @admin.display(ordering="sent_count")
    def sent(self, campaign):
        return campaign.sent_count

    @admin.display(ordering="failed_count", description="failed / dead")
    def failed(self, campaign):
        return campaign.failed_count

    def has_add_permission(self, request):
        # Campaigns are created through the API or the campaign pages, which validate
        # numbers and compute segments.
        return False


@admin.action(description="Re-queue selected failed / dead messages")
def requeue_messages(modeladmin, request, queryset):
    count = services.sms_requeue(messages=list(queryset))
    modeladmin.message_user(request, f"Re-queued {count} message(s).", messages.SUCCESS)


@admin.register(SmsMessage)
class SmsMessageAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "to",
        "campaign",
        "status",
        "segments",
        "attempts",
        "last_error",
        "queued_at",
        "sent_at",
    ]
    list_filter = ["status", "campaign"]
    search_fields = ["to", "=id", "provider_id"]
    list_select_related = ["campaign"]
    readonly_fields = [field.name for field in SmsMessage._meta.fields]
    actions = [requeue_messages]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class OptOutForm(forms.ModelForm):
    class Meta:
        model = OptOut
        fields = ["number", "source"]

    def clean_number(self):
        number = services.normalize_number(self.cleaned_data["number"])
        if number is None:
            raise forms.ValidationError("Not a valid phone number.")
        return number


@admin.register(OptOut)
class OptOutAdmin(admin.ModelAdmin):
    """Adding and deleting go through campaigns.services, so each lands in the consent
    log with its moderator."""

    form = OptOutForm
    list_display = ["number", "source", "created_at"]
    list_filter = ["source", "created_at"]
    search_fields = ["number"]
    fields = ["number"]

    def has_change_permission(self, request, obj=None):
        return False  # an opt-out is there or not: add it, or delete it

    def save_model(self, request, obj, form, change):
        optout, _ = services.optout_add(
            number=obj.number, source=ConsentEvent.Source.ADMIN, actor=request.user
        )
        obj.pk = optout.pk

    def delete_model(self, request, obj):
        services.optout_remove(
            number=obj.number, source=ConsentEvent.Source.ADMIN, actor=request.user,
            missing_ok=True,
        )  # fmt: skip

    def delete_queryset(self, request, queryset):
        for optout in queryset:
            self.delete_model(request, optout)


@admin.action(description="Export the selected events as CSV")
def export_consent_csv(modeladmin, request, queryset):
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="consent-log.csv"'
    writer = csv.writer(response)
    writer.writerow(["number", "event", "source", "time", "by", "inbound message"])
    for event in queryset.select_related("actor", "inbound").order_by("created_at", "pk"):
        writer.writerow(
            [
                event.number,  # E.164, digits after its +: no formula
                event.event,
                event.source,
                event.created_at.isoformat(),
                _cell(event.actor.username if event.actor else ""),
                _cell(event.inbound.body if event.inbound else ""),
            ]
        )
    return response


def _cell(text: str) -> str:
    """A spreadsheet reads a cell that starts so as a formula: kept as text."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@admin.register(ConsentEvent)
class ConsentEventAdmin(ReadOnlyAdmin):
    """The consent log (SPEC section 14): read only; select and export."""

    list_display = ["created_at", "number", "event", "source", "actor", "inbound"]
    list_filter = ["event", "source", "created_at"]
    search_fields = ["number"]
    list_select_related = ["actor", "inbound"]
    actions = [export_consent_csv]
    date_hierarchy = "created_at"


@admin.register(InboundSms)
class InboundSmsAdmin(ReadOnlyAdmin):
    list_display = ["received_at", "sender", "keyword", "body", "backend"]
    list_filter = ["keyword", "backend", "received_at"]
    search_fields = ["sender", "body"]
