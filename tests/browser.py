"""Shared by the browser tests: a person in a browser context, and service calls made
from a thread of their own."""

from concurrent.futures import ThreadPoolExecutor

from django.db import connection
from playwright.sync_api import expect

from conftest import PASSWORD


def off_thread(function, /, **kwargs):
    """Services publish events with async_to_sync, which refuses to run in a thread with a
    running event loop (Playwright's): call them from a thread of their own."""

    def run():
        try:
            return function(**kwargs)
        finally:
            connection.close()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(run).result()


class Person:
    """One user in one browser context, with every page error they hit recorded."""

    def __init__(self, browser, server, user):
        self.server = server
        self.user = user
        self.context = browser.new_context(viewport={"width": 1100, "height": 760})
        self.page = self.context.new_page()
        self.errors = []
        self.dialogs = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("dialog", self._dialog)
        self.page.goto(self.url("/login/"))
        self.page.fill("#id_username", user.username)
        self.page.fill("#id_password", PASSWORD)
        self.page.click("button.primary")
        self.page.wait_for_url(self.url("/"))

    def _console(self, message):
        if message.type == "error":
            self.errors.append(message.text)

    def _dialog(self, dialog):
        self.dialogs.append(dialog.message)
        dialog.accept()

    def url(self, path):
        return f"http://{self.server}{path}"

    def open(self, path):
        self.page.goto(self.url(path))
        expect(self.page.locator("#connection")).to_have_attribute("data-state", "live")

    def send(self, text):
        self.page.fill("#composer-text", text)
        self.page.press("#composer-text", "Enter")

    def message(self, text):
        return self.page.locator("#messages li .text", has_text=text)
