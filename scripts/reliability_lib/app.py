"""The Django side, in the harness process: users, campaigns through campaigns.services,
and checks against the database (the source of truth).

`configure` must run before anything here touches Django. Every helper opens a fresh
database connection (`connections.close_all()` first), so one that a PostgreSQL restart
broke is never reused.
"""

import itertools
import os
import time

from .procs import wait_for

SETTINGS = "messaging_site.settings.dev"
BODIES = {
    1: "Reliability check: your code is ready. " + "a" * 80,
    2: "Reliability check, two parts. " + "b" * 200,
    3: "Reliability check, three parts. " + "c" * 380,
}
_numbers = itertools.count(1)


def configure(env: dict) -> None:
    os.environ.update(env)
    import django

    django.setup()
    from campaigns.segments import analyze

    for segments, body in BODIES.items():
        assert analyze(body).segments == segments, (segments, analyze(body))  # noqa: S101


def fresh() -> None:
    from django.db import connections

    connections.close_all()


def next_number() -> str:
    """A valid, distinct US number for each call (415 area code, exchanges 200-279)."""
    n = next(_numbers)
    return f"+1415{200 + n // 10_000:03d}{n % 10_000:04d}"


def admin_user():
    """A superuser: holds campaigns.send_sms and administers the test groups."""
    fresh()
    from accounts.models import User

    user, created = User.objects.get_or_create(
        username="rel-admin", defaults={"is_staff": True, "is_superuser": True}
    )
    if created:
        user.set_password("reliability-pass-123")
        user.save()
    return user


def users_with_tokens(prefix: str, count: int) -> list[dict]:
    """`count` users, each `{id, username, token}` (the token made for them)."""
    fresh()
    from rest_framework.authtoken.models import Token

    from accounts.models import User

    out = []
    for n in range(count):
        user, _ = User.objects.get_or_create(username=f"{prefix}{n}")
        token, _ = Token.objects.get_or_create(user=user)
        out.append({"id": user.pk, "username": user.username, "token": token.key})
    return out


def token_for(user) -> str:
    from rest_framework.authtoken.models import Token

    return Token.objects.get_or_create(user=user)[0].key


def create_campaigns(plan: list[tuple[int, int]], chunk: int = 20) -> list[int]:
    """Draft campaigns for `plan` = [(segments, texts), ...], `chunk` texts each, in
    rotation over the plan so that record ids (the dispatch order) interleave the kinds."""
    fresh()
    from campaigns import services

    actor = admin_user()
    remaining = dict(plan)
    ids = []
    while any(remaining.values()):
        for segments in remaining:
            take = min(chunk, remaining[segments])
            if not take:
                continue
            remaining[segments] -= take
            campaign = services.campaign_create(
                actor=actor,
                name=f"rel-{segments}seg-{len(ids)}",
                message=BODIES[segments],
                recipients=[next_number() for _ in range(take)],
            )
            ids.append(campaign.pk)
    return ids


def references(campaign_ids: list[int]) -> set[str]:
    from campaigns.models import SmsMessage

    rows = SmsMessage.objects.filter(campaign_id__in=campaign_ids).values_list("pk", flat=True)
    return {str(pk) for pk in rows}


def launch(campaign_ids: list[int]) -> float:
    """Launch the drafts; the monotonic time just before the first launch."""
    fresh()
    from campaigns import services
    from campaigns.models import Campaign

    started = time.monotonic()
    for campaign in Campaign.objects.filter(pk__in=campaign_ids).order_by("pk"):
        services.campaign_launch(campaign=campaign)
    return started


def status_counts(campaign_ids: list[int]) -> dict[str, int]:
    fresh()
    from django.db.models import Count

    from campaigns.models import SmsMessage

    rows = (
        SmsMessage.objects.filter(campaign_id__in=campaign_ids)
        .values_list("status")
        .annotate(n=Count("id"))
    )
    return dict(rows)


def unfinished(campaign_ids: list[int]) -> int:
    counts = status_counts(campaign_ids)
    return counts.get("queued", 0) + counts.get("sending", 0)


def wait_drained(campaign_ids: list[int], timeout: float) -> bool:
    """True once no record of these campaigns is queued or sending; False after timeout."""
    try:
        wait_for(lambda: unfinished(campaign_ids) == 0, timeout, 0.5, "the campaign to drain")
    except RuntimeError:
        return False
    return True


def warm_up(count: int, timeout: float = 60) -> None:
    """A few direct texts, not measured, so that each worker has its database and
    provider connections, as a running service would."""
    fresh()
    from campaigns import services
    from campaigns.models import SmsMessage

    actor = admin_user()
    services.sms_send(actor=actor, message="warm-up", to=[next_number() for _ in range(count)])
    wait_for(
        lambda: (
            not SmsMessage.objects.filter(campaign=None, status__in=["queued", "sending"]).exists()
        ),
        timeout,
        0.2,
        "the warm-up texts",
    )


def cancel_running() -> None:
    """Leave nothing running for the next scenario."""
    fresh()
    from campaigns import services
    from campaigns.models import Campaign, SmsMessage

    for campaign in Campaign.objects.filter(status="running"):
        services.campaign_cancel(campaign=campaign)
    SmsMessage.objects.filter(campaign=None, status__in=["queued", "sending"]).update(
        status="cancelled"
    )


def messages_with_client_ids(client_ids: list[str]) -> set[str]:
    fresh()
    from chat.models import Message

    found = Message.objects.filter(client_id__in=client_ids).values_list("client_id", flat=True)
    return set(found)


def attempted_again(campaign_ids: list[int]) -> int:
    """Records that needed more than one attempt (a killed worker's, a retried one)."""
    fresh()
    from campaigns.models import SmsMessage

    return SmsMessage.objects.filter(campaign_id__in=campaign_ids, attempts__gt=1).count()
