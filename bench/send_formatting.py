#!/usr/bin/env python
"""What Markdown and mentions add to a send: CPU of the whole REST send, in this process.

Run by hand:

    .venv/bin/python bench/send_formatting.py                 # 3 rounds of 1,000 sends each
    .venv/bin/python bench/send_formatting.py --sends 3000 --rounds 5

It creates (or reuses) the database `messaging_bench_format`, migrates it, makes a group of
20 members, and sends through DRF's test client (`POST /api/conversations/{id}/messages/`,
token auth, the real view, serializer, service, SQL, and the publish after commit to
Redis), alternating in each round a plain text and one of the same length with Markdown
and two mentions of members (emphasis, inline code, a link, `@user1 @user2`). It reports
this process's CPU per send (user + system: the server's side of a send, PostgreSQL's
excepted) for each, and the ratio per round; the goal (issue 18) is at most 1.15.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DB_NAME = "messaging_bench_format"
ENV = {
    **os.environ,
    "DJANGO_SETTINGS_MODULE": "messaging_site.settings.dev",
    "DEBUG": "0",
    "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DB_NAME}",
    "DATABASE_POOL": "off",
    "REDIS_KEY_PREFIX": f"benchformat{os.getpid()}",
    "THROTTLES": "off",
    "ALLOWED_HOSTS": "testserver",  # DRF's test client
}

PLAIN = "Morning all, the release goes out at three and the notes are on the usual page ok"
FORMATTED = "Morning @user1 @user2, the **release** goes out at `3pm`, notes: https://example.com/n"


def prepare_database() -> None:
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB_NAME]).fetchone():
            conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=ENV, check=True
    )


def cpu() -> float:
    times = os.times()
    return times.user + times.system


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sends", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    prepare_database()
    os.environ.update(ENV)
    import django

    django.setup()
    from rest_framework.test import APIClient

    from accounts.models import User
    from chat import memberships, services

    users = []
    for n in range(20):
        user, _ = User.objects.get_or_create(
            username=f"user{n}", defaults={"email": f"u{n}@x.test"}
        )
        users.append(user)
    sender = users[0]
    group = services.conversation_create(actor=sender, kind="group", name=f"bench {time.time()}")
    for user in users[1:]:
        memberships.membership_add(actor=sender, conversation=group, user_id=user.pk)
    client = APIClient()
    client.force_authenticate(sender)
    url = f"/api/conversations/{group.pk}/messages/"

    def run(text: str, sends: int) -> float:
        """CPU seconds for `sends` sends of `text`."""
        started = cpu()
        for _ in range(sends):
            response = client.post(url, {"text": text}, format="json")
            if response.status_code != 201:
                raise SystemExit(f"send failed: {response.status_code} {response.content[:200]}")
        return cpu() - started

    run(PLAIN, 200)  # warm-up: connections, caches, the renderer
    run(FORMATTED, 200)
    # Alternating in batches of 100 within a round, so that the machine's slow spells fall
    # on both texts alike.
    batch = 100
    ratios = []
    print(f"{args.sends} sends per text per round, in batches of {batch}; CPU per send (us)")
    print("round | plain | Markdown + 2 mentions | ratio")
    for n in range(args.rounds):
        plain = formatted = 0.0
        for _ in range(max(1, args.sends // batch)):
            plain += run(PLAIN, batch)
            formatted += run(FORMATTED, batch)
        ratios.append(formatted / plain)
        per = 1e6 / (max(1, args.sends // batch) * batch)
        print(f"{n + 1} | {plain * per:.0f} | {formatted * per:.0f} | {formatted / plain:.3f}")
    print(f"median ratio {statistics.median(ratios):.3f} (goal <= 1.15)")


if __name__ == "__main__":
    main(sys.argv[1:])
