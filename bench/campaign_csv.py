#!/usr/bin/env python
"""Creating a campaign from a CSV through the web form, as a marketer does: time and
memory for 100,000 recipients with personal texts (issue 20's goal: under 30 s, memory
bounded).

Run by hand or by `make bench`, never by the test suite:

    .venv/bin/python bench/campaign_csv.py                  # 100,000 recipients
    .venv/bin/python bench/campaign_csv.py --recipients 200000 --quiet-hours

It writes a CSV (phone numbers as people type them, `+1 (415) 2xx-xxxx`, a first name
and a city), then, in a fresh process for each measurement, signs in a campaign manager
and POSTs the file to /campaigns/new/ with a personal message, against the database
`messaging_bench_csv` (created and migrated if missing). It reports the request's wall
time, the process's peak RSS above what it held before the request, and the records
written; the campaign is deleted afterwards. A second measurement posts the same
recipients as JSON objects to POST /api/campaigns/.
"""

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import sms_rate  # noqa: E402 - the numbers and database set-up of the SMS rate bench

# A database of its own: the 100,000-row deletes after each run would leave the rate
# bench's table full of dead rows (its dispatcher slowed to 28% of the limit after one).
sms_rate.DB_NAME = "messaging_bench_csv"
sms_rate.ENV["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{sms_rate.DB_NAME}"

MESSAGE = "Hi {{first_name}}, spring sale in {{city}}: 20% off today only. Reply STOP to opt out."
NAMES = ["Ann", "Bo", "Chidi", "Dana", "Émile", "Farah", "Goran", "Hana", "Ivo", "Jun"]
CITIES = ["Oslo", "Lima", "Kyiv", "Rome", "Pune", "Lagos", "Quito", "Sendai", "Austin", "Porto"]


def write_csv(path: Path, count: int) -> None:
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["Phone", "First name", "City"])
        for n in range(count):
            digits = sms_rate.number(n)[2:]  # 415xxxxxxx
            typed = f"+1 ({digits[:3]}) {digits[3:6]}-{digits[6:]}"
            writer.writerow([typed, NAMES[n % len(NAMES)], CITIES[(n // 7) % len(CITIES)]])


def measure(kind: str, path: Path, quiet_hours: bool) -> dict:
    """One measurement in a fresh process: its answer is a JSON line."""
    command = [sys.executable, __file__, "--child", kind, str(path)]
    if quiet_hours:
        command.append("--quiet-hours")
    done = subprocess.run(command, cwd=ROOT, env=sms_rate.ENV, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{kind} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def child(kind: str, path: Path, quiet_hours: bool) -> None:
    import resource

    import django

    django.setup()
    from django.db import connection
    from django.test import Client
    from rest_framework.test import APIClient

    from accounts.models import User
    from campaigns.models import Campaign, SmsMessage
    from campaigns.tests.conftest import ensure_managers_group

    manager, _ = User.objects.get_or_create(username="bench-csv-manager")
    manager.groups.add(ensure_managers_group())
    Campaign.objects.filter(created_by=manager).delete()
    schedule = {"quiet_start": "21:00", "quiet_end": "08:00"} if quiet_hours else {}
    if kind == "web":
        client = Client(HTTP_HOST="localhost")
        client.force_login(manager)
        client.get("/campaigns/new/")  # warm: templates, URL resolvers
    else:
        client = APIClient(HTTP_HOST="localhost")
        client.force_authenticate(manager)
        with path.open() as file:
            rows = list(csv.DictReader(file))
        payload = {
            "name": "bench",
            "message": MESSAGE,
            "recipients": [
                {"to": row["Phone"], "first_name": row["First name"], "city": row["City"]}
                for row in rows
            ],
        }
        if quiet_hours:
            payload["quiet_hours"] = {"start": "21:00", "end": "08:00"}
        body = json.dumps(payload)
        del rows, payload
    before_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    if kind == "web":
        with path.open("rb") as file:
            response = client.post(
                "/campaigns/new/",
                {"name": "bench", "message": MESSAGE, "recipients_file": file, **schedule},
            )
        if response.status_code != 302:
            raise SystemExit(response.content.decode()[-2000:])
    else:
        response = client.post("/api/campaigns/", body, content_type="application/json")
        if response.status_code != 201:
            raise SystemExit(response.content.decode()[-2000:])
    seconds = time.perf_counter() - started
    after_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    campaign = Campaign.objects.get(created_by=manager)
    records = SmsMessage.objects.filter(campaign=campaign).count()
    campaign.delete()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE campaigns_smsmessage")
    print(
        json.dumps(
            {
                "kind": kind,
                "seconds": round(seconds, 2),
                "peak_rss_growth_mib": round((after_kb - before_kb) / 1024, 1),
                "records": records,
            }
        )
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--quiet-hours", action="store_true", help="with quiet hours 21-08")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]), args.quiet_hours)
        return
    os.environ.update(sms_rate.ENV)
    sms_rate.prepare_database()
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "recipients.csv"
        write_csv(path, args.recipients)
        size_mib = path.stat().st_size / 1024 / 1024
        print(
            f"campaign from a CSV: {args.recipients:,} recipients, {size_mib:.1f} MiB, "
            f"personal message{', quiet hours' if args.quiet_hours else ''}"
        )
        for kind in ("web", "rest"):
            result = measure(kind, path, args.quiet_hours)
            if result["records"] != args.recipients:
                raise SystemExit(f"{kind}: {result['records']:,} records written")
            growth = result["peak_rss_growth_mib"]
            print(
                f"  {kind:4}  {result['seconds']:6.2f} s   peak RSS +{growth} MiB"
                f"   {result['records']:,} records"
            )


if __name__ == "__main__":
    main()
