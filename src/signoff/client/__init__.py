"""Python client for signoff's REST API (sync `Client`, async `AsyncClient`)."""

from signoff.client.http import ApiError, AsyncClient, Client

__all__ = ["ApiError", "AsyncClient", "Client"]
