"""Text that users and data files control, made safe to show: Streamlit renders Markdown in
almost every string it is given (bodies, captions, alerts, labels, help, metric values), and
plotly renders a little HTML in every label of a figure.

Core builds plain sentences (the CLI prints them as they are); pages pass each name or sentence
through `escape_markdown`, and chart builders pass their labels through `escape_plotly`.
"""

from __future__ import annotations

import re

# Characters that open (GitHub-flavoured) Markdown wherever they stand: escapes, code, emphasis,
# strikethrough, links and images, HTML and autolinks, entities, tables, email autolinks; and
# Streamlit's LaTeX.
_ALWAYS = frozenset("\\`*~[]<&|@$")
# A colon before a letter opens Streamlit's directives (:red[...], :help, :small) and icons
# (:material/...:), before a slash a web address; a name between two colons is an emoji
# shortcode (:smile:).
_DIRECTIVE = re.compile(r"[^\W\d_]|/")
_EMOJI = re.compile(r"(?=(:[\w+-]+:))")
# What opens a block at the start of a line: a heading, a quote, a list item, a rule.
_BLOCK = re.compile(r"^(?:#+(?=\s|$)|>|[-+](?=\s|$)|-(?=[-\s]*$)|\d+(?=[.)](?:\s|$)))")
_WWW = re.compile(r"\b(www)\\?\.", re.IGNORECASE)
# Plotly draws a few tags (<b>, <a href>, <br>, <span style>, ...) and decodes entities; text
# that could be neither, such as '< 6,900', stays as it is.
_PLOTLY_TAG = re.compile(r"<(?=[^<>]*>)")
_PLOTLY_ENTITY = re.compile(r"&(?=#?\w+;)")
_PLOTLY_ESCAPED = re.compile(r"&(lt|amp);")


def escape_markdown(text: object) -> str:
    """TEXT as Streamlit Markdown that shows it literally, on one line.

    Line breaks and runs of spaces become one space, so the text cannot open a block of its
    own. Streamlit's typography (`->` drawn as an arrow) and its `:streamlit:` logo cannot be
    escaped and stay.
    """
    flat = " ".join(str(text).split())
    emoji_colons = {m.start(1) for m in _EMOJI.finditer(flat)}
    emoji_colons |= {m.start(1) + len(m.group(1)) - 1 for m in _EMOJI.finditer(flat)}
    out = []
    for i, ch in enumerate(flat):
        before = flat[i - 1] if i else ""
        after = flat[i + 1] if i + 1 < len(flat) else ""
        if (
            ch in _ALWAYS
            # An underscore between two letters or digits can neither open nor close emphasis.
            or (ch == "_" and not (before.isalnum() and after.isalnum()))
            or (ch == ":" and (i in emoji_colons or bool(_DIRECTIVE.match(after))))
        ):
            out.append("\\")
        out.append(ch)
    # Streamlit reads ':material/' as an icon before parsing, escaped colon or not.
    escaped = _WWW.sub(r"\1\\.", "".join(out)).replace(":material/", ":material\\/")
    block = _BLOCK.match(escaped)
    if block is None:
        return escaped
    cut = block.end() if block.group().isdigit() else 0
    return escaped[:cut] + "\\" + escaped[cut:]


def escape_plotly(text: object) -> str:
    """TEXT for a plotly title, axis, tick, legend, annotation or hover label: its tags and
    entities shown as typed instead of drawn."""
    return _PLOTLY_TAG.sub("&lt;", _PLOTLY_ENTITY.sub("&amp;", str(text)))


def unescape_plotly(label: str) -> str:
    """The text an `escape_plotly` label was made from (a clicked tick or point gives it)."""
    return _PLOTLY_ESCAPED.sub(lambda m: "<" if m.group(1) == "lt" else "&", label)
