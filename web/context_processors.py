"""What every page's frame needs to know of the signed-in user."""

import json

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from campaigns.selectors import can_send_sms
from chat import listing, presence

# The conversation list beside every page: the most recent ones, as the home page showed.
SIDEBAR_CONVERSATIONS = 50


def navigation(request: HttpRequest) -> dict[str, object]:
    """`can_send_sms`: whether the Campaigns entry shows (campaigns.selectors' one check,
    the same the campaign pages enforce). `sidebar`: the conversation list every signed-in
    page shows beside its own content, read only when a template renders it."""
    return {
        "can_send_sms": can_send_sms(request.user),
        "sidebar": SimpleLazyObject(lambda: _sidebar(request)),
    }


def _sidebar(request: HttpRequest) -> dict:
    """The user's conversations, most recent first, with unread and mention counts (one
    statement), and the presence of each direct conversation's other person as the user
    may see it (one query, one Redis round trip)."""
    user = request.user
    if not user.is_authenticated:
        return {"conversations": [], "more": False}
    # With the database away this raises, and the page is the 503 (which has no list):
    # an empty list would say "No conversations yet".
    page = listing.conversation_page(
        user=user, cursor=None, limit=SIDEBAR_CONVERSATIONS, inbox=False
    )
    items = json.loads(page.results)
    peers = [item["peer"]["id"] for item in items if item.get("peer")]
    seen = presence.visible_to(viewer_id=user.pk, user_ids=peers)
    for item in items:
        if item.get("peer"):
            item["presence"] = seen[item["peer"]["id"]].status
    return {"conversations": items, "more": page.next is not None}
