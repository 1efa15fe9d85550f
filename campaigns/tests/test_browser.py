"""The campaign pages in a real browser (Debian's Chromium through Playwright) against a
real Daphne, with real Celery workers and beat sending to an HTTP provider on localhost."""

import os
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from campaigns.models import SmsMessage

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
DOCS = Path(__file__).resolve().parents[2] / "docs"


def type_message(page, text):
    page.fill("#id_message", text)
    page.dispatch_event("#id_message", "input")


@pytest.mark.parametrize(
    ("text", "encoding", "segments", "remaining", "marked"),
    [
        ("Hello world, see you at 6!", "GSM-7", "1", "134", []),
        # An escape pair that would straddle the 153-septet boundary moves whole.
        ("a" * 152 + "€" + "a" * 152, "GSM-7", "3", "152", []),
        ("Hi 😀", "UCS-2", "1", "65", ["😀"]),
    ],
    ids=["gsm7", "extension-at-boundary", "ucs2-emoji"],
)
def test_counter_follows_the_servers_rules(
    people, manager, text, encoding, segments, remaining, marked
):
    person = people(manager)
    person.open("/campaigns/new/")
    type_message(person.page, text)
    expect(person.page.locator("#count-encoding")).to_have_text(encoding)
    expect(person.page.locator("#count-segments")).to_have_text(segments)
    expect(person.page.locator("#count-remaining")).to_have_text(remaining)
    expect(person.page.locator("#highlight mark")).to_have_text(marked)


def test_counter_shows_what_smart_encoding_saves(people, manager):
    person = people(manager)
    person.open("/campaigns/new/")
    type_message(person.page, "It\u2019s our \u201cbig\u201d sale \u2013 " + "x" * 60)
    expect(person.page.locator("#count-encoding")).to_have_text("UCS-2")
    expect(person.page.locator("#count-smart")).to_contain_text("would save 1 segment")
    person.page.check("#id_smart_encoding")
    expect(person.page.locator("#count-encoding")).to_have_text("GSM-7")
    expect(person.page.locator("#count-smart")).to_contain_text("saves 1 segment")


def test_bad_numbers_are_listed_before_anything_is_saved(people, manager):
    person = people(manager)
    person.open("/campaigns/new/")
    person.page.fill("#id_name", "Oops")
    type_message(person.page, "Hello")
    person.page.fill("#id_recipients", "+1 (415) 555-0101\n12345\nnope")
    person.page.click("button.primary")
    expect(person.page.locator("#bad-numbers")).to_contain_text("'12345' is not a valid")
    expect(person.page.locator("#bad-numbers")).to_contain_text("'nope' is not a valid")
    assert not SmsMessage.objects.exists()


def test_a_campaign_of_60_runs_to_completion_live(people, manager, sink, start_workers):
    start_workers(sink, count=1, limit=45, guard_ms=40, beat=True)
    numbers = [f"+1415555{n:04d}" for n in range(2000, 2060)]
    person = people(manager)
    person.open("/campaigns/new/")
    person.page.fill("#id_name", "Sixty")
    type_message(person.page, "Our shop opens at 9 tomorrow.")
    person.page.fill("#id_recipients", "\n".join(numbers))
    person.page.click("button.primary")
    person.page.wait_for_url(re.compile(r"/campaigns/\d+/$"))
    expect(person.page.locator("#connection")).to_have_attribute("data-state", "live")
    # A draft has recipients, not a queue.
    expect(person.page.locator("#draft-counts")).to_contain_text("recipients60")
    expect(person.page.locator("#count-queued")).to_be_hidden()
    expect(person.page.locator("#segments-total")).to_have_text("60")
    expect(person.page.locator("#percent")).to_have_text("0%")

    person.page.click("#launch-form button")  # the confirmation is accepted
    expect(person.page.locator(".flash li.launch")).to_contain_text("Launched")
    expect(person.page.locator("#campaign-status")).to_have_text("Completed", timeout=30000)
    expect(person.page.locator("#percent")).to_have_text("100%")
    expect(person.page.locator(".flash li.launch")).to_have_count(0)  # news no more
    expect(person.page.locator("#draft-counts")).to_be_hidden()
    expect(person.page.locator("#count-sent")).to_have_text("60")
    expect(person.page.locator("#segments-sent")).to_have_text("60")
    expect(person.page.locator("#count-queued")).to_have_text("0")
    expect(person.page.locator("#progress-bar")).to_have_js_property("value", 60)
    expect(person.page.locator("#launch-form")).to_be_hidden()
    assert len(person.dialogs) == 1  # the launch confirmation
    assert sorted(p["to"] for _, p in sink.arrivals) == numbers
    if os.environ.get("UI_SCREENSHOTS"):  # for the README
        person.page.screenshot(path=str(DOCS / "screenshot-campaign.png"), full_page=True)


def test_without_the_permission_there_is_no_campaign_ui(people, alice):
    person = people(alice)
    person.open("/")
    expect(person.page.get_by_role("link", name="Campaigns")).to_have_count(0)
    response = person.page.goto(person.url("/campaigns/"))
    assert response.status == 403
    person.errors.clear()  # the browser logs the 403 itself


def test_a_personal_scheduled_campaign_from_a_csv_previews_before_launch(people, manager, tmp_path):
    """A marketer's whole path: a CSV with a name column, a {{placeholder}}, a send time
    in their own zone and quiet hours; the draft shows each text as it will go out; the
    launch schedules it."""
    csv = tmp_path / "people.csv"
    csv.write_text("Phone,First name\n+1 (415) 555-0101,Ann\n+1 415 555 0102,Борис\n")
    person = people(manager)
    person.open("/campaigns/new/")
    person.page.fill("#id_name", "Spring")
    type_message(person.page, "Hi {{first_name}}, spring sale today!")
    person.page.set_input_files("#id_recipients_file", str(csv))
    person.page.fill("#id_send_at", "2099-01-01T09:30")  # refused: over 35 days ahead
    person.page.click("button.primary")
    expect(person.page.locator(".field.invalid .error")).to_contain_text("35 days")
    assert not SmsMessage.objects.exists()

    zone = person.page.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone")
    assert person.page.locator("#browser-zone").inner_text() == zone
    later = (timezone.now() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    person.page.fill("#id_send_at", later)
    person.page.set_input_files("#id_recipients_file", str(csv))
    person.page.fill("#id_quiet_start", "21:00")
    person.page.fill("#id_quiet_end", "08:00")
    person.page.click("button.primary")
    expect(person.page.locator("#preview")).to_be_visible()
    rows = person.page.locator("#preview-texts tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("Hi Ann, spring sale today!")
    expect(rows.nth(1)).to_contain_text("Hi Борис, spring sale today!")
    expect(rows.nth(1)).to_contain_text("UCS-2")
    expect(person.page.locator("#schedule")).to_contain_text("quiet 21:00\u201308:00")
    expect(person.page.locator("#schedule .moment")).to_contain_text(",")  # date and time
    if os.environ.get("SCREENSHOTS"):
        person.page.screenshot(path=str(DOCS / "screenshot-campaign-preview.png"), full_page=True)
    person.page.click("#launch-form button")
    expect(person.page.locator("#campaign-status")).to_have_text("Scheduled")
    expect(person.page.locator(".flash")).to_contain_text("Scheduled")
    expect(person.page.locator("#cancel-form")).to_be_visible()
    assert person.errors == []
