"""Service: the long-running bot that wires the stages together.

App wiring, the poll cycle and its intake thread, the scheduler, the HTTP port (Slack
requests, ``/healthz``, ``/metrics``), the one-poller lock, logging and backoff.
"""

__all__ = ["app", "backoff", "cycle", "health", "intake", "lock", "logs", "metrics", "scheduler", "web"]
