"""Chat: the text after ``/news`` in, a neutral reply out.

One command core for Slack, Discord and the CLI; adapters only translate.
"""

__all__ = ["commands"]
