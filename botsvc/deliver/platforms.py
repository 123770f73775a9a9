"""Which chat adapters this process can send through, from the environment.

Tokens are read from environment variables only. The console and webhook adapters
need none; Slack's bot adapter needs ``SLACK_BOT_TOKEN``, Discord's ``DISCORD_BOT_TOKEN``.
API base URLs (``BOTSVC_SLACK_API_URL``, ``BOTSVC_DISCORD_API_URL``) are read by the
adapters themselves.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Collection, Iterator, Mapping

from botsvc.deliver.adapter import REGISTRY, Adapter, load_adapter

log = logging.getLogger(__name__)

TOKENS = {"slack": ("SLACK_BOT_TOKEN", "token"), "discord": ("DISCORD_BOT_TOKEN", "token")}
TIMEOUT_ENV = "BOTSVC_CHAT_TIMEOUT"
SEND_TIMEOUT = 5.0
"""Seconds one request to a chat platform may take when delivering: a hung API costs one short
wait per message and the outbox tries again later (``BOTSVC_CHAT_TIMEOUT`` sets it)."""


def send_timeout(env: Mapping[str, str]) -> float:
    """``BOTSVC_CHAT_TIMEOUT`` in seconds (0.1 to 120), else :data:`SEND_TIMEOUT`; a bad value is logged."""
    raw = env.get(TIMEOUT_ENV, "").strip()
    if not raw:
        return SEND_TIMEOUT
    try:
        seconds = float(raw)
    except ValueError:
        seconds = float("nan")
    if not 0.1 <= seconds <= 120:
        log.warning("%s=%r is not a number of seconds from 0.1 to 120; using %.0f", TIMEOUT_ENV, raw, SEND_TIMEOUT)
        return SEND_TIMEOUT
    return seconds


def available_adapters(
    env: Mapping[str, str] | None = None,
    *,
    slack_managers: tuple[str, ...] | None = None,
    slack_managers_only: bool = False,
    platforms: Collection[str] | None = None,
) -> dict[str, Adapter]:
    """Adapter instances by platform name, for every platform that can send from here
    (of ``platforms`` only, when given).

    The Slack bot also takes ``/news`` commands when ``SLACK_SIGNING_SECRET`` (HTTP
    request URL) or ``SLACK_APP_TOKEN`` (Socket Mode) is set.
    """
    env = os.environ if env is None else env
    adapters: dict[str, Adapter] = {}
    wanted: list[tuple[str, dict]] = []
    timeout = send_timeout(env)
    for name in REGISTRY:
        if platforms is not None and name not in platforms:
            continue
        if name not in TOKENS:
            wanted.append((name, {} if name == "console" else {"timeout": timeout}))
            continue
        variable, argument = TOKENS[name]
        token = env.get(variable, "").strip()
        if token:
            settings: dict[str, object] = {argument: token, "timeout": timeout}
            if name == "slack":
                settings.update(
                    signing_secret=env.get("SLACK_SIGNING_SECRET", "").strip() or None,
                    app_token=env.get("SLACK_APP_TOKEN", "").strip() or None,
                    managers=slack_managers,
                    managers_only=slack_managers_only,
                )
            wanted.append((name, settings))
    for name, settings in wanted:
        try:
            adapters[name] = load_adapter(name, **settings)
        except ImportError as exc:  # a platform whose SDK is not installed
            log.warning("%s adapter unavailable: %s", name, exc)
    return adapters


class AdaptersOnDemand(Mapping[str, Adapter]):
    """:func:`available_adapters`, each made the first time a message for its platform is sent.

    A one-shot poll with nothing to send then loads no chat SDK. Iterating gives the adapters
    made so far (the ones to stop); asking for one that cannot send from here is a KeyError.
    """

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self._env = env
        self._made: dict[str, Adapter | None] = {}

    def __getitem__(self, name: str) -> Adapter:
        if name not in self._made:
            self._made[name] = available_adapters(self._env, platforms=(name,)).get(name)
        adapter = self._made[name]
        if adapter is None:
            raise KeyError(name)
        return adapter

    def __iter__(self) -> Iterator[str]:
        return iter([name for name, adapter in self._made.items() if adapter is not None])

    def __len__(self) -> int:
        return sum(1 for adapter in self._made.values() if adapter is not None)


def missing_credentials(platform: str) -> str | None:
    """The environment variable a platform still needs, if any."""
    if platform in TOKENS and not os.environ.get(TOKENS[platform][0], "").strip():
        return TOKENS[platform][0]
    return None
