"""`make run` falls back to SQLite on machines without PostgreSQL: the REST paths that have
a PostgreSQL-only fast path (chat.listing) must work there too, through the ORM.

The suite itself runs on PostgreSQL, so this drives a separate process on a fresh SQLite
file: migrate, a few users and messages, then the endpoints a person hits first.
"""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = r"""
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)

from rest_framework.test import APIClient
from accounts.services import block_create, user_register
from chat import memberships, services

alice = user_register(username="alice", password="pw-alice-123456")
bob = user_register(username="bob", password="pw-bob-1234567")
carol = user_register(username="carol", password="pw-carol-123456")
group = services.conversation_create(actor=alice, kind="group", name="Team")
for user in (bob, carol):
    memberships.membership_add(actor=alice, conversation=group, user_id=user.pk)
for i in range(3):
    services.message_send(sender=alice, conversation=group, text=f"g{i}")
services.message_send(sender=carol, conversation=group, text="blocked")
block_create(blocker=bob, blocked_id=carol.pk)
services.direct_message_send(sender=alice, recipient_id=bob.pk, text="dm")

client = APIClient()
client.force_authenticate(bob)
listed = client.get("/api/conversations/?limit=1")
assert listed.status_code == 200, listed.content
page = listed.json()
second = client.get(page["next"]).json()
assert [r["name"] for r in page["results"] + second["results"]] == ["", "Team"], (page, second)
assert second["results"][0]["unread"] == 3
inbox = client.get("/api/inbox/").json()["results"]
assert [e["unread"] for e in inbox] == [1, 3], inbox
assert [m["text"] for m in inbox[1]["messages"]] == ["g0", "g1", "g2"], inbox
print("ok")
"""


def test_conversation_list_and_inbox_on_sqlite(tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "messaging_site.settings.test",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "PYTHONPATH": str(ROOT),
    }
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")
