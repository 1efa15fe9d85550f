"""Debian Chromium through Playwright: the browser tooling works, and our pages load clean.

Any console error, including a Content-Security-Policy violation, fails the test.
"""

import pytest
from django.core.management import call_command

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def page(chromium):
    context = chromium.new_context()
    page = context.new_page()
    page.console_errors = []
    page.on(
        "console",
        lambda message: message.type == "error" and page.console_errors.append(message.text),
    )
    page.on("pageerror", lambda error: page.console_errors.append(str(error)))
    yield page
    context.close()


def test_admin_login_page_loads_and_signs_in(daphne_server, page):
    call_command("seed_demo")
    page.goto(f"http://{daphne_server}/admin/login/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", "demo-pass-123")
    page.click("input[type=submit]")
    page.wait_for_url(f"http://{daphne_server}/admin/")
    assert page.locator("#site-name").inner_text()
    assert page.console_errors == []


def test_api_docs_render_from_local_assets(daphne_server, page):
    page.goto(f"http://{daphne_server}/api/docs/")
    page.wait_for_selector(".swagger-ui .info .title", timeout=15000)
    assert "Messaging platform API" in page.locator(".swagger-ui .info .title").inner_text()
    page.wait_for_selector("text=/api/auth/register/")
    assert page.console_errors == []
