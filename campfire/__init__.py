"""Campfire: a self-hosted group chat server."""

__version__ = "0.1.0"
