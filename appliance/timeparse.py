"""Times as users type them (``--from now-24h``); the parser lives with the query language."""

from index.datemath import parse

__all__ = ["parse"]
