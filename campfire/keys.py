"""Typed application keys, in one module so handlers and the app factory never import each other."""

from aiohttp import web

from campfire.config import Settings
from campfire.core import Core

settings_key = web.AppKey("settings", Settings)
core_key = web.AppKey("core", Core)
worker_index_key = web.AppKey("worker_index", int)  # 0..N-1 under the supervisor; 0 alone
