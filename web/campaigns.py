"""The campaign pages (README, "The web UI"), for holders of `campaigns.send_sms`; anyone else
gets 403. Thin, like web/views.py: the rules live in campaigns.services."""

import csv
import functools
import io

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from campaigns import selectors, services
from campaigns.models import Campaign, SmsMessage
from campaigns.services import MAX_BODY_LENGTH, MAX_NAME_LENGTH
from messaging_site.errors import DomainError, Invalid, NotFound

from .views import _apply_errors, _me

LISTED = 200
PROBLEMS_SHOWN = 100


def send_sms_required(view):
    """Signed in (else the login page), and campaigns.selectors.can_send_sms (else 403)."""

    @functools.wraps(view)
    def checked(request, *args, **kwargs):
        if not selectors.can_send_sms(request.user):
            raise PermissionDenied(selectors.NOT_A_SENDER)
        return view(request, *args, **kwargs)

    return login_required(checked)


class CampaignForm(forms.Form):
    name = forms.CharField(max_length=MAX_NAME_LENGTH)
    message = forms.CharField(
        max_length=MAX_BODY_LENGTH, strip=False, widget=forms.Textarea(attrs={"rows": 5})
    )
    smart_encoding = forms.BooleanField(
        required=False,
        label="Smart encoding",
        help_text="Replace look-alike characters (curly quotes, dashes…) when that saves segments.",
    )
    recipients = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 5, "placeholder": "+14155550101, +14155550102"}),
        help_text="One number a line, or separated by commas or semicolons; spaces, dots, "
        "dashes and brackets inside a number are fine: +1 (415) 555-0143.",
    )
    recipients_file = forms.FileField(
        required=False, label="…or a CSV file of numbers", help_text="Up to 1 MiB."
    )

    def numbers(self) -> list[str]:
        """Every number given, pasted then uploaded, in order."""
        pasted = services.split_pasted(self.cleaned_data["recipients"])
        upload = self.cleaned_data.get("recipients_file")
        return pasted + (_csv_numbers(upload) if upload else [])


PHONE_HEADERS = {"phone", "phone number", "number", "mobile", "msisdn", "to", "recipient"}


def _csv_numbers(upload) -> list[str]:
    """One column of a CSV file: the one headed like a phone number, else the first. A
    first row without a digit in that column is a header."""
    try:
        text = upload.read().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Invalid(fields={"recipients_file": ["Not a UTF-8 text file."]}) from None
    rows = [row for row in csv.reader(io.StringIO(text)) if any(cell.strip() for cell in row)]
    column = 0
    if rows and not any(ch.isdigit() for ch in "".join(rows[0])):
        header = [cell.strip().lower() for cell in rows.pop(0)]
        column = next((i for i, name in enumerate(header) if name in PHONE_HEADERS), 0)
    return [
        entry for row in rows if len(row) > column for entry in services.split_pasted(row[column])
    ]


def _progress_percent(progress: dict) -> int:
    total = progress["segments_total"]
    return round(100 * progress["segments_sent"] / total) if total else 0


@send_sms_required
def campaign_list(request):
    campaigns = list(selectors.campaigns_for_sender(user=request.user).order_by("-pk")[:LISTED])
    progress = selectors.campaigns_progress(campaigns=campaigns)
    rows = [
        (campaign, progress[campaign.pk], _progress_percent(progress[campaign.pk]))
        for campaign in campaigns
    ]
    return render(request, "web/campaigns/list.html", {"rows": rows, "nav": "campaigns"})


@send_sms_required
def campaign_new(request):
    form = CampaignForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            campaign = services.campaign_create(
                actor=request.user,
                name=form.cleaned_data["name"],
                message=form.cleaned_data["message"],
                recipients=form.numbers(),
                smart_encoding=form.cleaned_data["smart_encoding"],
            )
        except Invalid as error:
            _apply_errors(form, error)
        else:
            return redirect("web:campaign", campaign.pk)
    return render(
        request,
        "web/campaigns/new.html",
        {"form": form, "nav": "campaigns", "page_data": _me(request)},
    )


def _campaign(request, campaign_id: int) -> Campaign:
    try:
        return selectors.campaign_for_sender(user=request.user, campaign_id=campaign_id)
    except NotFound:
        raise Http404("No such campaign.") from None


@send_sms_required
def campaign_detail(request, campaign_id: int):
    campaign = _campaign(request, campaign_id)
    progress = selectors.campaign_progress(campaign=campaign)
    problems = selectors.campaign_problems(campaign=campaign)[:PROBLEMS_SHOWN]
    return render(
        request,
        "web/campaigns/detail.html",
        {
            "campaign": campaign,
            "progress": progress,
            "percent": _progress_percent(progress),
            "recipients": sum(progress["counts"][status] for status in SmsMessage.Status.values),
            "problems": problems,
            "nav": "campaigns",
            "page_data": _me(request, campaignId=campaign.pk),
        },
    )


def _act(request, campaign_id: int, act, done: str, tag: str = ""):
    """`tag`: what the page's script knows the flash by (the launch's goes once the
    campaign finishes)."""
    campaign = _campaign(request, campaign_id)
    try:
        act(campaign)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, done, extra_tags=tag)
    return HttpResponseRedirect(reverse("web:campaign", args=[campaign.pk]))


@send_sms_required
@require_POST
def campaign_launch(request, campaign_id: int):
    return _act(
        request,
        campaign_id,
        lambda campaign: services.campaign_launch(campaign=campaign),
        "Launched: sending has started.",
        tag="launch",
    )


@send_sms_required
@require_POST
def campaign_cancel(request, campaign_id: int):
    return _act(
        request,
        campaign_id,
        lambda campaign: services.campaign_cancel(campaign=campaign),
        "Cancelled: nothing more will be sent.",
    )


@send_sms_required
@require_POST
def campaign_requeue(request, campaign_id: int):
    """Re-queue one failed or dead text (`message`), or all of them."""

    def requeue(campaign):
        problems = selectors.campaign_problems(campaign=campaign)
        if request.POST.get("message"):
            try:
                problems = problems.filter(pk=int(request.POST["message"]))
            except ValueError:
                raise Invalid("No such text.") from None
        if not services.sms_requeue(messages=list(problems)):
            raise Invalid("Nothing to re-queue: only failed and dead texts can be.")

    return _act(request, campaign_id, requeue, "Re-queued.")
