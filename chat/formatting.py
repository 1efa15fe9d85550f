"""A message's `html` and its mentions: the Markdown subset of SPEC section 12, rendered
once, when the message is stored or edited, never on read.

markdown-it-py (CommonMark) with raw HTML off, so anything that looks like a tag is
escaped text; headings, rules, images and link reference definitions are switched off
(a chat message's `# 1` or `---` stays what was typed); single newlines are line breaks;
bare URLs become links (linkify-it-py). Every link gets `rel="noopener nofollow ugc"`,
and markdown-it's own link check refuses `javascript:`, `vbscript:`, `file:` and `data:`
targets.

Mentions: `@name` where it starts a word, outside code. Parsing finds the candidates
(`Parsed.names`); the caller resolves them against the conversation's members; rendering
marks the resolved ones `<span class="mention" data-user-id="N">@name</span>` and leaves
the rest as typed. `@all` is everyone, when the caller allows it (an admin's message).
"""

import html
import re
from dataclasses import dataclass, field

from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.rules_inline import StateInline
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict

LINK_REL = "noopener nofollow ugc"
EVERYONE = "all"
# Django's username characters (accounts.User.username_validator): word characters and
# . @ + -; a mention stops at the first other one, and trailing . + - may be punctuation.
_NAME = re.compile(r"[\w.@+-]+")
_WORD = re.compile(r"\w")


def _link_open(
    renderer: RendererHTML, tokens: list[Token], index: int, options: OptionsDict, env: EnvType
) -> str:
    tokens[index].attrSet("rel", LINK_REL)
    return renderer.renderToken(tokens, index, options, env)


def _mention_rule(state: StateInline, silent: bool) -> bool:
    """`@name` at the start of a word becomes a `mention` token (rendered below)."""
    start = state.pos
    if state.src[start] != "@" or (start > 0 and _WORD.match(state.src[start - 1])):
        return False
    found = _NAME.match(state.src, start + 1, state.posMax)
    if found is None:
        return False
    if not silent:
        token = state.push("mention", "", 0)
        token.content = found.group(0)
    state.pos = found.end()
    return True


def _mention(
    renderer: RendererHTML, tokens: list[Token], index: int, options: OptionsDict, env: EnvType
) -> str:
    typed = tokens[index].content
    resolved: dict[str, int] = env.get("resolved", {})
    for name in _candidates(typed):
        if name.lower() == EVERYONE and EVERYONE in resolved:
            rest = typed[len(name) :]
            return f'<span class="mention" data-everyone="">@{name}</span>{html.escape(rest)}'

        user_id = resolved.get(name.lower())
        if user_id is not None:
            rest = typed[len(name) :]
            return (
                f'<span class="mention" data-user-id="{user_id}">@{html.escape(name)}</span>'
                f"{html.escape(rest)}"
            )
    return html.escape(f"@{typed}")


def _candidates(typed: str) -> list[str]:
    """The name as typed, then without trailing punctuation (`@bob.` is bob)."""
    stripped = typed.rstrip(".+-@")
    return [typed, stripped] if stripped and stripped != typed else [typed]


def _build() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": True, "breaks": True})
    md.enable("linkify")
    md.disable(["heading", "lheading", "hr", "image", "reference", "html_block", "html_inline"])
    md.inline.ruler.after("text", "mention", _mention_rule)
    md.add_render_rule("link_open", _link_open)
    md.add_render_rule("mention", _mention)
    return md


_markdown = _build()


@dataclass
class Parsed:
    text: str
    tokens: list[Token] = field(repr=False)
    # Lower-cased: usernames are unique ignoring case.
    names: set[str]
    everyone: bool


def parse(text: str) -> Parsed:
    tokens = _markdown.parse(text) if text else []
    names: set[str] = set()
    for block in tokens:
        for token in block.children or []:
            if token.type == "mention":
                names.update(name.lower() for name in _candidates(token.content))
    everyone = EVERYONE in names
    names.discard(EVERYONE)
    return Parsed(text=text, tokens=tokens, names=names, everyone=everyone)


def render_parsed(parsed: Parsed, resolved: dict[str, int] | None = None) -> str:
    """The HTML, with the mentions in `resolved` (lower-cased name -> user id; `all` for
    everyone) marked."""
    if not parsed.text:
        return ""
    env = {"resolved": resolved or {}}
    return _markdown.renderer.render(parsed.tokens, _markdown.options, env)


def render(text: str) -> str:
    """The HTML of a text, mentioning nobody."""
    return render_parsed(parse(text))
