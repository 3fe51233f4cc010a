"""app.text: user text reads as typed once Markdown or plotly has drawn it."""

from __future__ import annotations

import html
import re

import pytest
from markdown_it import MarkdownIt

from app.text import escape_markdown, escape_plotly, unescape_plotly

_MARKDOWN = MarkdownIt("commonmark").enable(["table", "strikethrough"])


def shown(source: str) -> str:
    """The text a Markdown source reads as once rendered."""
    return html.unescape(re.sub(r"<[^>]+>", "", _MARKDOWN.render(source))).strip()


@pytest.mark.parametrize(
    "text",
    [
        "**bold** __bold__ _it_ ~~gone~~ `code`",
        "![x](http://127.0.0.1:9/img.png) [link](http://127.0.0.1:9) <http://127.0.0.1:9>",
        "<img src=http://127.0.0.1:9/x> &lt;b&gt; R&D",
        "# heading",
        "> quote",
        "- item",
        "+ item",
        "1. first",
        "2) second",
        "---",
        "| a | b |",
        "a\\*b",
        "www.example.com and someone@example.com",
    ],
)
def test_markdown_in_user_text_reads_as_typed(text: str) -> None:
    escaped = escape_markdown(text)

    assert shown(escaped) == text
    assert not re.search(r"<(?!/?p>)", _MARKDOWN.render(escaped))  # no tag but the paragraph


def test_streamlits_own_markup_is_escaped_too() -> None:
    escaped = escape_markdown(":red[alarm] :help[x] $x^2$ :smile: :material/home: http://x")

    # A backslash before the colon, bracket and dollar stops Streamlit's directive, LaTeX,
    # emoji and icon parsers; ':material/' is read before parsing, so its slash is escaped too.
    assert escaped == (r"\:red\[alarm\] \:help\[x\] \$x^2\$ \:smile\: \:material\/home: http\://x")


def test_plain_sentences_keep_their_source() -> None:
    sentence = "v2 is live; showing v1 (archived). At 10:30, 1.5 EUR — debt_ratio, -150 EUR."

    assert escape_markdown(sentence) == sentence


def test_line_breaks_become_spaces_so_user_text_opens_no_block() -> None:
    assert escape_markdown("first\n\n    code\n# heading") == "first code # heading"


def test_plotly_labels_show_their_tags_and_entities_as_typed() -> None:
    label = '<a href="http://127.0.0.1:9">x</a> <b>bold</b> &amp; &lt;i> < 6,900 R&D'

    assert escape_plotly(label) == (
        '&lt;a href="http://127.0.0.1:9">x&lt;/a> &lt;b>bold&lt;/b> &amp;amp; &amp;lt;i> '
        "< 6,900 R&D"
    )
    assert unescape_plotly(escape_plotly(label)) == label
