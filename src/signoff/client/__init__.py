"""Python client for signoff's REST API (sync `Client`, async `AsyncClient`)."""

from signoff.client import models
from signoff.client.calls import ApiError
from signoff.client.http import AsyncClient, Client
from signoff.client.retry import RetryPolicy

__all__ = ["ApiError", "AsyncClient", "Client", "RetryPolicy", "models"]
