"""A message's `html`: the Markdown subset of SPEC section 12, rendered once, when the
message is stored or edited, never on read.

markdown-it-py (CommonMark) with raw HTML off, so anything that looks like a tag is
escaped text; headings, rules, images and link reference definitions are switched off
(a chat message's `# 1` or `---` stays what was typed); single newlines are line breaks;
bare URLs become links (linkify-it-py). Every link gets `rel="noopener nofollow ugc"`,
and markdown-it's own link check refuses `javascript:`, `vbscript:`, `file:` and `data:`
targets.
"""

from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict

LINK_REL = "noopener nofollow ugc"


def _link_open(
    renderer: RendererHTML, tokens: list[Token], index: int, options: OptionsDict, env: EnvType
) -> str:
    tokens[index].attrSet("rel", LINK_REL)
    return renderer.renderToken(tokens, index, options, env)


def _build() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": True, "breaks": True})
    md.enable("linkify")
    md.disable(["heading", "lheading", "hr", "image", "reference", "html_block", "html_inline"])
    md.add_render_rule("link_open", _link_open)
    return md


_markdown = _build()


def render(text: str) -> str:
    """The HTML of a message's text (empty for an empty text)."""
    return _markdown.render(text) if text else ""
