"""How the dashboard is served: only to this machine unless an operator says otherwise."""

from __future__ import annotations

import tomllib

from tests.conftest import ROOT


def test_the_dashboard_listens_on_this_machine_only_by_default() -> None:
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())

    assert config["server"]["address"] == "127.0.0.1"
    assert config["server"]["enableXsrfProtection"] is True
    assert config["client"]["showErrorDetails"] == "none"


def test_the_readme_says_how_to_serve_it_behind_a_proxy_with_tls() -> None:
    readme = (ROOT / "README.md").read_text()

    assert "## Serving it to a team" in readme
    assert "proxy_set_header Upgrade $http_upgrade;" in readme
    assert "listen 443 ssl;" in readme
