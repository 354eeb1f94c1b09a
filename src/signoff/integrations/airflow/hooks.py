"""The `signoff` connection type: host = base URL, password = API key."""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseHook

from signoff import client as signoff_client

DEFAULT_CONN_ID = "signoff_default"


def connection_params(conn: Any) -> tuple[str, str]:
    """Base URL and API key from an Airflow connection of type `signoff`."""
    host = (conn.host or "").strip().rstrip("/")
    if not host:
        raise ValueError(f"connection {conn.conn_id!r}: host (the signoff base URL) is empty")
    if not conn.password:
        raise ValueError(f"connection {conn.conn_id!r}: password (the API key) is empty")
    if "://" in host:
        base = host
        scheme_and_host = host.split("/", 3)[2]
        if conn.port and ":" not in scheme_and_host:
            base = f"{host}:{conn.port}"
    else:
        # As Airflow's HTTP hook does: the schema field carries the scheme.
        scheme = conn.schema if conn.schema in ("http", "https") else "http"
        base = f"{scheme}://{host}" + (f":{conn.port}" if conn.port else "")
    return base, str(conn.password)


class SignoffHook(BaseHook):
    """Clients for the signoff server that an Airflow connection names."""

    conn_name_attr = "signoff_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = "signoff"
    hook_name = "signoff"

    def __init__(self, signoff_conn_id: str = DEFAULT_CONN_ID, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.signoff_conn_id = signoff_conn_id

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        return {
            "hidden_fields": ["login", "extra"],
            "relabeling": {"host": "Base URL", "password": "API key", "schema": "Scheme"},
            "placeholders": {"host": "https://signoff.example.com", "password": "sk_..."},
        }

    def get_client(self, **kwargs: Any) -> signoff_client.Client:
        base_url, api_key = connection_params(self.get_connection(self.signoff_conn_id))
        return signoff_client.Client(base_url, api_key, **kwargs)

    async def get_async_client(self, **kwargs: Any) -> signoff_client.AsyncClient:
        """An async client, reading the connection without blocking the triggerer's loop."""
        aget = getattr(BaseHook, "aget_connection", None)
        if aget is not None:
            conn = await aget(self.signoff_conn_id)
        else:  # Airflow 3.0 has no async connection lookup
            from asgiref.sync import sync_to_async

            conn = await sync_to_async(BaseHook.get_connection)(self.signoff_conn_id)
        base_url, api_key = connection_params(conn)
        return signoff_client.AsyncClient(base_url, api_key, **kwargs)

    def test_connection(self) -> tuple[bool, str]:
        """Airflow's "Test" button: can this key list workflows?"""
        try:
            with self.get_client() as client:
                found = client.list_workflows()
        except Exception as error:  # the button shows any failure as text
            return False, str(error)
        return True, f"connected: {len(found)} workflow(s) visible"
