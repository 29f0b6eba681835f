"""Outbound network access on behalf of customers (webhooks today, agent HTTP tools next)."""
