"""The one error a command raises for bad input: it becomes a usage reply, changing nothing."""

from __future__ import annotations


class UsageError(ValueError):
    def __init__(self, problem: str, command: str | None = None) -> None:
        super().__init__(problem)
        self.command = command
