#!/usr/bin/env python
"""A personal campaign through a real Kannel, measured at its SMS centre (issue 20's goal).

Run by hand, never by the test suite (about five minutes for the default 10,000):

    .venv/bin/python bench/sms_kannel.py
    .venv/bin/python bench/sms_kannel.py --recipients 2000 --workers 2

It starts Debian's bearerbox and smsbox with deploy/kannel/kannel.conf and fakesmsc as the
SMS centre (campaigns/tests/kannel.py, as the tests do), this service's web process
(scripts/serve.py) for Kannel's callbacks, and N Celery worker processes with the
production defaults (45 segments a second, SMS_RATE_GUARD_MS, SMS_RATE_SPREAD), against
the database `messaging_bench_sms`. It creates a campaign of `--recipients` personal
texts ("Hi {{name}}..."; a tenth of the names need UCS-2, some texts take two segments),
launches it, and a third of the way through a handset texts STOP from a number whose
text is still queued. It reports, from what the SMS centre received:

- duplicates (a number receiving its text twice, or a part twice) and texts missing;
- the most segments in any one-second window, and the windows over the limit;
- the sustained rate from the first to the last part, as a share of the limit;
- delivery reports: records delivered, and report rows per part (each applied once);
- whether the number that texted STOP got its campaign text (it must not).
"""

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

import sms_rate  # noqa: E402 - the same database, numbers and window count

from campaigns.tests.kannel import Kannel, available, wait_port  # noqa: E402

SECRET = "bench-kannel-secret"
NAMES = ["Ann", "Bo", "Chidi", "Dana", "Émile", "Farah", "Goran", "Hana", "Ivo", "Жанна"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument("--concurrency", type=int, default=2, help="pool size per worker")
    parser.add_argument("--logs", help="keep the workers', web's and Kannel's logs here")
    parser.add_argument("--stamps", help="write each part's arrival time here, one a line")
    args = parser.parse_args()
    if not available():
        raise SystemExit("Debian's kannel and kannel-extras are needed (scripts/provision.sh).")

    scratch = Path(tempfile.mkdtemp(prefix="sms-kannel-"))
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    kannel = Kannel(scratch / "kannel", callback_base_url=base_url, secret=SECRET)
    kannel.directory.mkdir()
    env = {
        **sms_rate.ENV,
        "SMS_BACKEND": "campaigns.backends.kannel.KannelBackend",
        "KANNEL_SENDSMS_URL": kannel.sendsms_url,
        "KANNEL_USERNAME": kannel.username,
        "KANNEL_PASSWORD": kannel.password,
        "KANNEL_SECRET": SECRET,
        "SMS_CALLBACK_BASE_URL": base_url,
        "THROTTLES": "off",
    }
    os.environ.update(env)
    sms_rate.prepare_database()
    processes: list[subprocess.Popen] = []
    try:
        kannel.start()
        processes.append(
            subprocess.Popen(
                [sys.executable, "scripts/serve.py"],
                cwd=ROOT,
                env={**env, "HOST": "127.0.0.1", "PORT": str(port), "WEB_PROCESSES": "1"},
                stdout=(scratch / "web.log").open("wb"),
                stderr=subprocess.STDOUT,
            )
        )
        for n in range(args.workers):
            processes.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "celery",
                        "-A",
                        "messaging_site",
                        "worker",
                        "--loglevel",
                        "WARNING",
                        "--without-mingle",
                        "--without-gossip",
                        "--concurrency",
                        str(args.concurrency),
                        "--hostname",
                        f"kannel{n}-{os.getpid()}@localhost",
                    ],
                    cwd=ROOT,
                    env={**env, "DATABASE_POOL": "off"},
                    stdout=(scratch / f"worker{n}.log").open("wb"),
                    stderr=subprocess.STDOUT,
                )
            )
        wait_port(port, timeout=30)
        run(args, kannel)
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        if args.logs:
            shutil.copytree(scratch, args.logs, dirs_exist_ok=True)
        kannel.stop()
        shutil.rmtree(scratch, ignore_errors=True)


def run(args, kannel: Kannel) -> None:
    import django

    django.setup()
    from django.conf import settings
    from django.db.models import Count

    from accounts.models import User
    from campaigns import selectors, services
    from campaigns.models import Campaign, DeliveryReport, OptOut, SmsMessage

    limit = settings.SMS_SEGMENTS_PER_SECOND
    actor, _ = User.objects.get_or_create(username="bench-kannel")
    Campaign.objects.all().delete()
    SmsMessage.objects.all().delete()
    OptOut.objects.all().delete()
    # Every tenth name needs UCS-2; every seventh text is long enough for two segments.
    recipients = [
        {"to": sms_rate.number(n), "name": NAMES[n % 10] + (" " + "x" * 90 if n % 7 == 0 else "")}
        for n in range(args.recipients)
    ]
    campaign = services.campaign_create(
        actor=actor,
        name="kannel bench",
        message="Hi {{name}}, spring sale today: 20% off everything. Reply STOP to opt out.",
        recipients=recipients,
    )
    records = dict(SmsMessage.objects.filter(campaign=campaign).values_list("to", "segments"))
    total = sum(records.values())
    stopper = sms_rate.number(args.recipients - 1)  # the last in line
    print(
        f"campaign: {len(records):,} personal texts, {total:,} segments "
        f"({Counter(records.values())}), limit {limit}/s, "
        f"{args.workers}x{args.concurrency} workers, "
        f"guard {settings.SMS_RATE_GUARD_MS} ms, spread {settings.SMS_RATE_SPREAD}"
    )
    started = time.monotonic()
    cpu_before = cpu_by_command()
    services.campaign_launch(campaign=campaign)
    stopped = False
    deadline = started + total / limit * 1.5 + 120
    while time.monotonic() < deadline:
        progress = selectors.campaign_progress(campaign=campaign)
        sent = progress["segments_sent"]
        if not stopped and sent > total / 3:
            kannel.handset_sends(stopper, "STOP")
            stopped = True
        campaign.refresh_from_db()
        if campaign.status == "completed":
            break
        time.sleep(1)
    else:
        print("  did not finish in time")
    cpu_after = cpu_by_command()
    elapsed = time.monotonic() - started
    # The last delivery reports: Kannel calls them as each text reaches the SMS centre.
    time.sleep(5)

    parts = kannel.parts()
    per_receiver = defaultdict(list)
    for part in parts:
        per_receiver[part.receiver].append(part)
    statuses = Counter(
        SmsMessage.objects.filter(campaign=campaign).values_list("status", flat=True)
    )
    sent_records = dict(
        SmsMessage.objects.filter(campaign=campaign, status="sent").values_list("to", "segments")
    )
    duplicates = sum(
        1
        for number, got in per_receiver.items()
        if number in records
        and (len(got) > records[number] or len({p.number for p in got}) < len(got))
    )
    missing = sum(
        1 for number, segments in sent_records.items() if len(per_receiver[number]) < segments
    )
    campaign_parts = [p for p in parts if p.receiver in records]
    times = sorted(p.at for p in campaign_parts)
    worst = sms_rate.max_in_any_window([(p.at, 1) for p in parts])
    every = sorted(p.at for p in parts)
    # Windows [t, t + 1 s) starting at a part that hold more than the limit.
    over = sum(
        1 for i, t in enumerate(every) if i + limit < len(every) and every[i + limit] < t + 1.0
    )
    span = times[-1] - times[0] if len(times) > 1 else 0.0
    rate = (len(times) - 1) / span if span else 0.0
    delivered = SmsMessage.objects.filter(campaign=campaign, delivery_status="delivered").count()
    report_rows = DeliveryReport.objects.filter(sms__campaign=campaign).aggregate(n=Count("id"))[
        "n"
    ]
    expected_rows = sum(sent_records.values())
    stop_texts = [p for p in per_receiver.get(stopper, []) if b"spring sale" in p.data]
    if args.stamps:
        Path(args.stamps).write_text("".join(f"{t:.6f}\n" for t in every))
    print(f"  statuses: {dict(statuses)}")
    print(
        f"  at the SMS centre: {len(campaign_parts):,} parts of campaign texts, "
        f"{len(parts):,} in all"
    )
    print(f"  duplicates: {duplicates}, sent texts missing parts: {missing}")
    print(f"  most segments in any 1 s window: {worst} (limit {limit}); windows over: {over}")
    print(
        f"  sustained: {rate:.2f} segments/s from first to last part over {span:.1f} s "
        f"= {100 * rate / limit:.1f}% of the limit"
    )
    print(
        f"  delivery reports: {delivered:,} of {len(sent_records):,} sent texts delivered; "
        f"{report_rows:,} report rows for {expected_rows:,} parts"
    )
    print(
        f"  STOP from {stopper}: on the list {OptOut.objects.filter(number=stopper).exists()}, "
        f"its record {SmsMessage.objects.get(campaign=campaign, to=stopper).status}, "
        f"campaign texts it got {len(stop_texts)}"
    )
    used = {
        command: cpu_after[command] - cpu_before.get(command, 0.0)
        for command in cpu_after
        if cpu_after[command] - cpu_before.get(command, 0.0) > 0.01 * elapsed
    }
    print(
        f"  CPU over the {elapsed:.0f} s run, cores: {sum(used.values()) / elapsed:.2f} in all; "
        + ", ".join(
            f"{command} {seconds / elapsed:.2f}"
            for command, seconds in sorted(used.items(), key=lambda item: -item[1])
        )
    )


def cpu_by_command() -> dict[str, float]:
    """CPU seconds used so far by the machine's processes, summed by command name (what
    exits between two readings is not counted)."""
    tick = os.sysconf("SC_CLK_TCK")
    totals: dict[str, float] = defaultdict(float)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            raw = stat.read_text()
        except OSError:
            continue
        command = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()
        # utime and stime are fields 14 and 15 of stat(5); fields[0] here is field 3.
        totals[command] += (int(fields[11]) + int(fields[12])) / tick
    return totals


if __name__ == "__main__":
    main()
