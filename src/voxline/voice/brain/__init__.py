"""Brains: what the agent says next, given the conversation so far."""
