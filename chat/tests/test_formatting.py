"""SPEC section 12, formatting: `html` from a Markdown subset, raw HTML never passed."""

import importlib
from html.parser import HTMLParser

import pytest
from django.apps import apps as installed_apps

from chat import services
from chat.formatting import render
from chat.models import Message

REL = 'rel="noopener nofollow ugc"'


@pytest.mark.parametrize(
    ("text", "html"),
    [
        ("plain", "<p>plain</p>\n"),
        ("*em* _em_ **strong**", "<p><em>em</em> <em>em</em> <strong>strong</strong></p>\n"),
        ("`a <b>`", "<p><code>a &lt;b&gt;</code></p>\n"),
        ("```\nx < y\n```", "<pre><code>x &lt; y\n</code></pre>\n"),
        ("> quoted", "<blockquote>\n<p>quoted</p>\n</blockquote>\n"),
        ("- one\n- two", "<ul>\n<li>one</li>\n<li>two</li>\n</ul>\n"),
        ("1. one\n2. two", "<ol>\n<li>one</li>\n<li>two</li>\n</ol>\n"),
        ("line\nbreak", "<p>line<br />\nbreak</p>\n"),
        ("[site](https://example.com)", f'<p><a href="https://example.com" {REL}>site</a></p>\n'),
        (
            "see https://example.com/a?b=1",
            f'<p>see <a href="https://example.com/a?b=1" {REL}>https://example.com/a?b=1</a></p>\n',
        ),
        # Not in the subset: stays what was typed.
        ("# 1 item", "<p># 1 item</p>\n"),
        ("---", "<p>---</p>\n"),
        (
            "![x](https://example.com/x.png)",
            '<p>!<a href="https://example.com/x.png" ' + REL + ">x</a></p>\n",
        ),
        ("", ""),
    ],
)
def test_the_markdown_subset(text, html):
    assert render(text) == html


@pytest.mark.parametrize(
    "text",
    [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        "[x](javascript:alert(1))",
        "[x](JAVASCRIPT:alert(1))",
        "[x](data:text/html;base64,PHNjcmlwdD4=)",
        "[x](vbscript:msgbox)",
        '[x](https://e.com" onmouseover="alert(1))',
        "<a href='javascript:alert(1)'>x</a>",
        "```\n</code><script>alert(1)</script>\n```",
    ],
)
def test_no_markup_or_script_gets_through(text):
    """Only the subset's own tags and attributes come out, and links only to the web or
    mail; anything else stays visible as text."""
    allowed = {
        "p": set(), "em": set(), "strong": set(), "code": {"class"}, "pre": set(),
        "blockquote": set(), "ul": set(), "ol": {"start"}, "li": set(), "br": set(),
        "a": {"href", "rel"},
    }  # fmt: skip
    found: list[tuple[str, list]] = []

    class Tags(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.append((tag, attrs))

    Tags().feed(render(text))
    for tag, attrs in found:
        assert tag in allowed, tag
        assert {name for name, _ in attrs} <= allowed[tag], (tag, attrs)
        href = dict(attrs).get("href")
        if href is not None:
            assert href.startswith(("http://", "https://", "mailto:")), href


@pytest.mark.django_db
def test_html_is_stored_with_the_message_and_follows_its_edits(client_for, alice, bob, group, send):
    message = send(bob, group, "**bold**")
    assert Message.objects.get(pk=message.pk).html == "<p><strong>bold</strong></p>\n"
    page = client_for(alice).get(f"/api/conversations/{group.pk}/messages/").json()["results"]
    assert page[-1]["html"] == "<p><strong>bold</strong></p>\n"
    listed = client_for(alice).get("/api/conversations/").json()["results"][0]
    assert listed["last_message"]["html"] == "<p><strong>bold</strong></p>\n"
    services.message_edit(actor=bob, conversation_id=group.pk, message_id=message.pk, text="_it_")
    assert Message.objects.get(pk=message.pk).html == "<p><em>it</em></p>\n"
    services.message_delete(actor=bob, conversation_id=group.pk, message_id=message.pk)
    assert Message.objects.get(pk=message.pk).html == ""


@pytest.mark.django_db
def test_a_retried_send_returns_the_first_message_html(alice, group):
    first, created = services.message_send(
        sender=alice, conversation_id=group.pk, text="*once*", client_id="c1"
    )
    again, created_again = services.message_send(
        sender=alice, conversation_id=group.pk, text="*twice*", client_id="c1"
    )
    assert (created, created_again) == (True, False)
    assert again.html == first.html == "<p><em>once</em></p>\n"


@pytest.mark.django_db
def test_the_migration_renders_messages_stored_before_html(alice, group, send):
    old = send(alice, group, "`old`")
    gone = send(alice, group, "x")
    services.message_delete(actor=alice, conversation_id=group.pk, message_id=gone.pk)
    Message.objects.filter(pk=old.pk).update(html="")
    migration = importlib.import_module("chat.migrations.0005_message_html")
    migration.render_stored(installed_apps, None)
    assert Message.objects.get(pk=old.pk).html == "<p><code>old</code></p>\n"
    assert Message.objects.get(pk=gone.pk).html == ""
