"""The REST API: routers, schemas, auth dependencies, the error map."""
