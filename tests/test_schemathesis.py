"""The API answers as its OpenAPI schema says, probed by schemathesis with every check on
(`--checks all`: status codes, content types, response bodies and headers, schema-valid
requests accepted and invalid ones refused, no 5xx), a few examples per operation, against
a real Daphne process. schemathesis.toml says which refusals of schema-valid requests are
the API's rules, not the schema's gaps.
"""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_the_api_matches_its_schema(daphne_server, alice, bob):
    from chat import memberships, services

    group = services.conversation_create(actor=alice, kind="group", name="Team")
    memberships.membership_add(actor=alice, conversation=group, user_id=bob.pk)
    services.message_send(sender=bob, conversation_id=group.pk, text="hello")
    command = [
        str(Path(sys.executable).parent / "schemathesis"),
        "--config-file", str(ROOT / "schemathesis.toml"),
        "run", f"http://{daphne_server}/api/schema/",
        "--checks", "all",
        "--header", f"Authorization: Token {alice.auth_token.key}",
        "--max-examples", "5",
        "--seed", "1",
        # These end the token the run signs in with.
        "--exclude-path-regex", "sign-out-everywhere|/tokens/",
        "--no-color",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stdout[-20_000:]
