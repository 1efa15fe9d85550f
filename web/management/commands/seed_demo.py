"""Demo data for `make run` (README: the demo users). Safe to run again: it changes nothing
twice."""

from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import User
from boards import services as board_services
from boards.models import Board
from chat import memberships
from chat import services as chat_services
from chat.models import Conversation

DEMO_PASSWORD = "demo-pass-123"  # noqa: S105 - documented demo credentials
DEMO_USERS = [
    ("alice", "Alice Liddell", "alice@example.com"),
    ("bob", "Bob Builder", "bob@example.com"),
    ("carol", "Carol Danvers", "carol@example.com"),
]


class Command(BaseCommand):
    help = (
        "Create the demo users (alice, bob, carol), the superuser admin, and one room, one "
        "group and one board with a few messages."
    )

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
        self._conversations()
        self._board()

    def _conversations(self):
        alice, bob, carol = (User.objects.get(username=name) for name in ("alice", "bob", "carol"))
        if not Conversation.objects.filter(kind="room", name="Lobby", created_by=alice).exists():
            room = chat_services.conversation_create(actor=alice, kind="room", name="Lobby")
            memberships.membership_request(actor=bob, conversation=room)
            memberships.membership_approve(actor=alice, conversation=room, user_id=bob.pk)
            memberships.membership_request(actor=carol, conversation=room)
            for sender, text in [
                (alice, "Welcome to the Lobby!"),
                (bob, "Hi Alice, glad to be here."),
            ]:
                chat_services.message_send(sender=sender, conversation_id=room.pk, text=text)
            self.stdout.write("Demo room 'Lobby' created (carol's request is pending).")
        if not Conversation.objects.filter(
            kind="group", name="Project team", created_by=alice
        ).exists():
            group = chat_services.conversation_create(
                actor=alice, kind="group", name="Project team"
            )
            for member in (bob, carol):
                memberships.membership_add(actor=alice, conversation=group, user_id=member.pk)
            chat_services.message_send(
                sender=carol, conversation_id=group.pk, text="Stand-up at ten tomorrow?"
            )
            chat_services.direct_message_send(
                sender=bob, recipient_id=alice.pk, text="Got a minute later?"
            )
            self.stdout.write("Demo group 'Project team' and a direct message created.")

    def _board(self):
        if Board.objects.filter(name__iexact="General").exists():
            return
        alice = User.objects.get(username="alice")
        board = board_services.board_create(actor=alice, name="General")
        board_services.board_post(
            actor=alice, board=board, topic="hello", data="First post on the General board."
        )
        self.stdout.write("Demo board 'General' created.")

    @staticmethod
    def _ensure(username: str, **fields) -> bool:
        if User.objects.filter(username__iexact=username).exists():
            return False
        user = User(username=username, **fields)
        user.set_password(DEMO_PASSWORD)
        user.save()
        return True
