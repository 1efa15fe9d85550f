"""`manage.py import_optouts FILE`: numbers that must never be texted, from another system
(a provider's suppression list, a CRM export), onto the opt-out list, each through
campaigns.services.optout_add with source `import`, so each lands in the consent log."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from campaigns import services
from campaigns.models import ConsentEvent
from messaging_site.errors import Invalid


class Command(BaseCommand):
    help = (
        "Put the numbers of a file (one a line, or separated by commas or semicolons) on the "
        "opt-out list, logged as imported. Bad entries are listed; the others are imported."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path, help="a UTF-8 text or CSV file")

    def handle(self, *args, file: Path, **options):
        try:
            text = file.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as error:
            raise CommandError(f"Cannot read {file}: {error}") from None
        added = already = 0
        bad: list[str] = []
        for entry in services.split_pasted(text):
            try:
                _, created = services.optout_add(number=entry, source=ConsentEvent.Source.IMPORT)
            except Invalid:
                bad.append(entry)
                continue
            added += created
            already += not created
        for entry in bad:
            self.stderr.write(f"not a phone number: {entry!r}")
        self.stdout.write(
            f"{added} opted out, {already} already were, {len(bad)} not phone numbers."
        )
