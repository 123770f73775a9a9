"""Judge: feed items in, decisions out, with no I/O.

Topic rules (relevance), the words and concepts of an item (tokens, terms, concepts,
fingerprint), and the similarity index and event assigner that place it among stored reports.
"""

__all__ = ["clustering", "concepts", "fingerprint", "relevance", "similarity", "terms", "tokens"]
