"""Text that users and data files control is shown as typed on every page, for every role: no
Markdown, HTML, colour directive or LaTeX in it is rendered (AppTest, on tests.hostile_corpus's
markup store)."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import streamlit as st
from google.protobuf.json_format import MessageToDict
from markdown_it import MarkdownIt
from streamlit.testing.v1 import AppTest

from core.auth import Identity
from tests.hostile_corpus import (
    MARKUP_COMMENT,
    MARKUP_MODEL,
    MARKUP_NUMERIC,
    MARKUP_REQUEST_ID,
    MARKUP_UNIT,
    MARKUP_USER_OF_ROLE,
    markup,
    markup_store,
)
from tests.ui_helpers import ALLOWED, MAIN, switch_path

# Elements whose text Streamlit shows as it is (no Markdown): only their labels and help count.
PLAIN = {"text", "code", "json", "dataframe", "arrow_data_frame", "plotly_chart", "exception"}
# Proto fields Streamlit renders as Markdown: bodies, labels, help, metric values and deltas.
RENDERED = {"body", "label", "help", "delta"}
# The markup a page must not render: Markdown images, links and bold, HTML, and Streamlit's own
# colour directives and LaTeX (CommonMark knows neither, so they are looked for in the source).
RENDERED_MARKUP = re.compile(r"<img|<a |<strong>bold</strong>|<strong>(?:owner|engineer)")
STREAMLIT_MARKUP = re.compile(r"(?<!\\):red\[|(?<!\\)\$x\^2(?<!\\)\$")
# Plotly draws <a href>, <b> and the like in titles, ticks, legends and hover labels.
PLOTLY_MARKUP = re.compile(r"<img|<a |<b>")
# What each page must still show, as text, of the markup store.
SHOWN = {
    "models": [MARKUP_MODEL, markup("creator")],
    "approvals": [MARKUP_MODEL, markup("creator"), markup("description"), MARKUP_COMMENT],
    "kpi": [MARKUP_UNIT],
    "drift": [MARKUP_NUMERIC],
    "overview": [MARKUP_UNIT],
}
# Lineage (the git commit among it) is in the technical view only.
SHOWN_TO_ENGINEERS = {"models": [markup("sha")]}
_MARKDOWN = MarkdownIt("commonmark").enable(["table", "strikethrough"])


@pytest.fixture(scope="module")
def markup_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The markup store (built once for this module; read-only for its tests)."""
    return markup_store(tmp_path_factory.mktemp("markup"))


def open_page(db: Path, role: str, page: str, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    """The app on DB, signed in as the markup store's user of ROLE, showing PAGE."""
    monkeypatch.setenv("MODELBRIDGE_DB", str(db))
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(str(MAIN), default_timeout=90)
    at.session_state["identity"] = Identity(MARKUP_USER_OF_ROLE[role], role)
    at.run()
    return at.switch_page(switch_path(page)).run() if page != "overview" else at


def _strings(tree: Any, keys: set[str] | None) -> Iterator[str]:
    """Strings under KEYS (any key when None) anywhere in a proto turned into a dict."""
    if isinstance(tree, dict):
        for key, value in tree.items():
            if keys is None or key in keys:
                yield from _strings(value, None)
            else:
                yield from _strings(value, keys)
    elif isinstance(tree, list):
        for item in tree:
            yield from _strings(item, keys)
    elif isinstance(tree, str) and keys is None:
        yield tree


def markdown_sources(at: AppTest) -> list[str]:
    """Every string the page hands to Streamlit's Markdown renderer, in the sidebar too."""
    found = []
    for root in (at.main, at.sidebar):
        for node in root:
            if node.proto is None:
                continue
            as_dict = MessageToDict(node.proto, preserving_proto_field_name=False)
            keys = RENDERED if node.type not in PLAIN else {"label", "help"}
            if node.type in ("radio", "button_group"):
                keys = keys | {"options"}
            found += list(_strings(as_dict, keys))
    return found


def shown(source: str) -> str:
    """What a Markdown source reads as in the browser: rendered, then its text alone."""
    return html.unescape(re.sub(r"<[^>]+>", "", _MARKDOWN.render(source))).strip()


def plotly_strings(at: AppTest) -> list[str]:
    """Every string of every plotly figure on the page (titles, ticks, names, hover, data)."""
    return [
        text
        for chart in at.get("plotly_chart")
        for text in _strings(json.loads(chart.proto.spec), None)
    ]


@pytest.mark.parametrize(("role", "page"), ALLOWED)
def test_markup_in_user_and_data_text_is_shown_as_text(
    markup_db: Path, monkeypatch: pytest.MonkeyPatch, role: str, page: str
) -> None:
    at = open_page(markup_db, role, page, monkeypatch)

    assert not at.exception, at.exception
    sources = markdown_sources(at)
    rendered = [s for s in sources if RENDERED_MARKUP.search(_MARKDOWN.render(s))]
    assert rendered == []
    assert [s for s in sources if STREAMLIT_MARKUP.search(s)] == []
    assert [s for s in plotly_strings(at) if PLOTLY_MARKUP.search(s)] == []
    texts = [shown(s) for s in sources] + [e.value for e in at.text]
    technical = SHOWN_TO_ENGINEERS.get(page, []) if role in ("ml_engineer", "admin") else []
    for expected in [*SHOWN.get(page, []), *technical]:
        assert any(expected in text for text in texts), expected
    # The user's name is theirs as typed (in bold), not Markdown's __bold__.
    assert any(shown(s).startswith(f"{MARKUP_USER_OF_ROLE[role]} · ") for s in sources)


def test_a_case_looked_up_by_a_request_id_with_markup_is_explained_as_text(
    markup_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_page(markup_db, "ml_engineer", "explain", monkeypatch)
    at.text_input(key="explain_request_id").input(MARKUP_REQUEST_ID).run()

    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    sources = markdown_sources(at)
    assert [s for s in sources if RENDERED_MARKUP.search(_MARKDOWN.render(s))] == []
    assert [s for s in sources if STREAMLIT_MARKUP.search(s)] == []
    assert [s for s in plotly_strings(at) if PLOTLY_MARKUP.search(s)] == []
    texts = [shown(s) for s in sources]
    # The words of the explanation, the business case's actions and a feature's label.
    assert any(markup("flagged") in text for text in texts)
    assert any("**bold** ![x](http://127.0.0.1:9/label.png)" in text for text in texts)


def test_an_unknown_request_id_with_markup_is_refused_as_text(
    markup_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_page(markup_db, "ml_engineer", "explain", monkeypatch)
    at.text_input(key="explain_request_id").input(markup("nobody")).run()

    [error] = [e.value for e in at.error]
    assert not RENDERED_MARKUP.search(_MARKDOWN.render(error))
    assert markup("nobody") in shown(error)
