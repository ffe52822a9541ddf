"""Brokers: the connector factory (the only place naming a concrete connector), each broker's
worker connection settings (``connections``) and stable IB client ids (``client_ids``).
"""
