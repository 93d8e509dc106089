"""The customer store's application keys. ``app[CUSTOMERS].store`` is what features use
to resolve customers; ``app[ACCESS]`` decides who sees which interaction and customer."""

from __future__ import annotations

from aiohttp import web

from .access import Access
from .services import CustomerService

CUSTOMERS = web.AppKey("customers", CustomerService)
ACCESS = web.AppKey("access", Access)
