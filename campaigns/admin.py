from django import forms
from django.contrib import admin, messages
from django.db.models import Count, Q

from messaging_site.errors import DomainError

from . import services
from .models import Campaign, OptOut, SmsMessage

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
    readonly_fields = [
        "body",
        "encoding",
        "segments_per_message",
        "status",
        "created_by",
        "created_at",
        "launched_at",
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
    form = OptOutForm
    list_display = ["number", "source", "created_at"]
    list_filter = ["source", "created_at"]
    search_fields = ["number"]
