"""Broker selection: the only place that names a concrete connector."""
