"""Voxline: a self-hosted platform for phone calls handled by AI voice agents."""

__version__ = "0.1.0"
