"""The campaign pages (README, "The web UI"), for holders of `campaigns.send_sms`; anyone else
gets 403. Thin, like web/views.py: the rules live in campaigns.services."""

import csv
import functools
import io
import itertools
from collections.abc import Iterable, Iterator
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
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
        required=False,
        label="…or a CSV file",
        help_text="A column of numbers, headed phone, number, mobile or to (else the first), "
        "and a column for each {{placeholder}}, headed with its name. "
        f"Up to {settings.CAMPAIGN_MAX_BYTES // (1024 * 1024)} MiB.",
    )
    send_at = forms.DateTimeField(
        required=False,
        label="Send at",
        help_text="Leave empty to send at launch. Your time zone: ",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    # Filled in by the page's script from the browser (Intl): how to read `send_at`.
    time_zone = forms.CharField(required=False, widget=forms.HiddenInput)
    quiet_start = forms.TimeField(
        required=False,
        label="Quiet from",
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
    )
    quiet_end = forms.TimeField(
        required=False,
        label="until",
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
    )
    valid_for_hours = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=services.VALID_FOR_MAX // 3600,
        initial=services.VALID_FOR_DEFAULT // 3600,
        label="Valid for (hours)",
        help_text="A text not sent this long after the start is dropped, never sent late.",
    )

    def recipients_given(self) -> Iterator:
        """Every recipient given, pasted then uploaded, in order: numbers, or (from a CSV
        with a header) `{"to", ...columns}`. An iterator: a file's rows are read as the
        campaign service takes them, never all held at once."""
        pasted = services.split_pasted(self.cleaned_data["recipients"])
        upload = self.cleaned_data.get("recipients_file")
        return itertools.chain(pasted, _csv_recipients(upload) if upload else ())

    def schedule(self) -> dict:
        """The campaign_create arguments for when to send (checked there)."""
        send_at = self.cleaned_data.get("send_at")
        if send_at is not None:
            # The form read the browser's wall-clock time in the server's zone: it is the
            # browser's zone's.
            try:
                zone = ZoneInfo(self.cleaned_data.get("time_zone") or "UTC")
            except (ZoneInfoNotFoundError, ValueError):
                zone = ZoneInfo("UTC")
            wall_clock = timezone.make_naive(send_at) if timezone.is_aware(send_at) else send_at
            send_at = wall_clock.replace(tzinfo=zone)
        start, end = self.cleaned_data.get("quiet_start"), self.cleaned_data.get("quiet_end")
        quiet_hours = None
        if start or end:
            quiet_hours = {
                "start": start.strftime("%H:%M") if start else "",
                "end": end.strftime("%H:%M") if end else "",
            }
        return {
            "send_at": send_at,
            "quiet_hours": quiet_hours,
            "valid_for_seconds": (
                self.cleaned_data.get("valid_for_hours") or services.VALID_FOR_DEFAULT // 3600
            )
            * 3600,
        }


PHONE_HEADERS = {"phone", "phone number", "number", "mobile", "msisdn", "to", "recipient"}


def _csv_recipients(upload) -> Iterator:
    """A CSV file's recipients: the column headed like a phone number (else the first),
    and, under a header row, every other column as a field named by its heading. A first
    row without a digit in that column is a header. A cell holding several numbers
    (`+1 415 555 0101; +1 415 555 0102`) gives each the row's fields."""
    try:
        text = upload.read().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Invalid(fields={"recipients_file": ["Not a UTF-8 text file."]}) from None
    reader = csv.reader(io.StringIO(text))
    first = next(reader, None)
    rows: Iterable[list[str]] = reader
    column, header = 0, None
    if first is not None and not any(ch.isdigit() for ch in "".join(first)):
        header = [cell.strip() for cell in first]
        lowered = [name.lower() for name in header]
        column = next((i for i, name in enumerate(lowered) if name in PHONE_HEADERS), 0)
    elif first is not None:
        rows = itertools.chain([first], reader)
    fields = [(i, name) for i, name in enumerate(header or []) if i != column and name]
    return _csv_rows(rows, column, fields)


def _csv_rows(rows: Iterable[list[str]], column: int, fields: list[tuple[int, str]]) -> Iterator:
    for row in rows:
        if len(row) <= column:
            continue
        values = {name: row[i] for i, name in fields if i < len(row)}
        for entry in services.split_pasted(row[column]):
            yield {"to": entry, **values} if values else entry


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
                recipients=form.recipients_given(),
                smart_encoding=form.cleaned_data["smart_encoding"],
                **form.schedule(),
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
    # Before launch, what launching would do (SPEC section 14, preview).
    preview = (
        selectors.campaign_preview(campaign=campaign)
        if campaign.status in (Campaign.Status.DRAFT, Campaign.Status.SCHEDULED)
        else None
    )
    return render(
        request,
        "web/campaigns/detail.html",
        {
            "campaign": campaign,
            "progress": progress,
            "percent": _progress_percent(progress),
            "recipients": sum(progress["counts"][status] for status in SmsMessage.Status.values),
            "problems": problems,
            "preview": preview,
            "nav": "campaigns",
            "page_data": _me(request, campaignId=campaign.pk),
        },
    )


def _act(request, campaign_id: int, act, done, tag: str = ""):
    """`done`: the flash, or a function of what `act` returned that makes it. `tag`: what
    the page's script knows the flash by (the launch's goes once the campaign finishes)."""
    campaign = _campaign(request, campaign_id)
    try:
        result = act(campaign)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, done(result) if callable(done) else done, extra_tags=tag)
    return HttpResponseRedirect(reverse("web:campaign", args=[campaign.pk]))


@send_sms_required
@require_POST
def campaign_launch(request, campaign_id: int):
    return _act(
        request,
        campaign_id,
        lambda campaign: services.campaign_launch(campaign=campaign),
        lambda launched: (
            "Scheduled: sending starts at the time set."
            if launched.status == Campaign.Status.SCHEDULED
            else "Launched: sending has started."
        ),
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
