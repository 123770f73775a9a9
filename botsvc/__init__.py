"""botsvc: a self-hosted news-monitoring bot for Slack and Discord."""

__version__ = "0.1.0"
