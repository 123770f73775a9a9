"""Settings a developer's shell may carry that would send Slack tests off loopback or change Bolt's mode."""

from __future__ import annotations

import pytest

from adapters.slack import API_URL_ENV

SLACK_ENVIRONMENT = (
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
    API_URL_ENV,
    "SLACK_SIGNING_SECRET",
    "SLACK_APP_TOKEN",
    "SLACK_BOT_TOKEN",
    "SLACK_CLIENT_ID",
    "SLACK_CLIENT_SECRET",
)


def clear_slack_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy, API URL, Slack secrets or OAuth settings from the environment."""
    for name in SLACK_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
