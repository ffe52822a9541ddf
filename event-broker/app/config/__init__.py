"""Configuration, read once at the edge.

``settings`` (environment and ``.env``, ``AppConfig``), ``files`` (accounts and replacement set
files), ``logs`` (the entry points' logging set-up, secret redaction).
"""

__all__: list[str] = []
