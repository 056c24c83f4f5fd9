"""Campfire: a self-hosted group chat server."""

from importlib.metadata import PackageNotFoundError, version

try:
    # One source of truth: setup.cfg's version, as installed (also inside campfire.pyz).
    __version__ = version("campfire")
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"
