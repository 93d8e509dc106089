"""The customer store's application key; ``app[CUSTOMERS].store`` is what features use."""

from __future__ import annotations

from aiohttp import web

from .services import CustomerService

CUSTOMERS = web.AppKey("customers", CustomerService)
