"""Demo data for `make run` (SPEC section 2). Safe to run again: it changes nothing twice."""

from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import User

DEMO_PASSWORD = "demo-pass-123"  # noqa: S105 - documented demo credentials
DEMO_USERS = [
    ("alice", "Alice Liddell", "alice@example.com"),
    ("bob", "Bob Builder", "bob@example.com"),
    ("carol", "Carol Danvers", "carol@example.com"),
]


class Command(BaseCommand):
    help = "Create the demo users (alice, bob, carol) and the superuser admin."

    @transaction.atomic
    def handle(self, *args, **options):
        created = []
        for username, name, email in DEMO_USERS:
            if self._ensure(username, name=name, email=email):
                created.append(username)
        if self._ensure(
            "admin", name="Admin", email="admin@example.com", is_staff=True, is_superuser=True
        ):
            created.append("admin")
        if created:
            self.stdout.write(
                f"Demo users created: {', '.join(created)} (password {DEMO_PASSWORD})."
            )
        else:
            self.stdout.write("Demo users already present.")

    @staticmethod
    def _ensure(username: str, **fields) -> bool:
        if User.objects.filter(username__iexact=username).exists():
            return False
        user = User(username=username, **fields)
        user.set_password(DEMO_PASSWORD)
        user.save()
        return True
