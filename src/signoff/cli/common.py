"""What every command shares: consoles, friendly errors, settings and the context."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import sqlalchemy as sa
import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from signoff.domain import errors
from signoff.services.context import Context, create_context
from signoff.settings import Settings
from signoff.storage import migrate

console = Console()
err = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])


def friendly(func: F) -> F:
    """Turn signoff errors and bad settings into a one-line message and exit code 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except errors.SignoffError as exc:
            # Details quote user input (YAML lines, names): never read them as rich markup.
            err.print(f"[red]error:[/red] {escape(exc.detail)}")
            raise typer.Exit(1) from None
        except sa.exc.OperationalError as exc:  # unreachable server, missing database, locked file
            err.print(f"[red]error:[/red] database error: {escape(str(exc.orig or exc).strip())}")
            raise typer.Exit(1) from None
        except ValueError as exc:  # pydantic settings validation
            err.print(f"[red]error:[/red] {escape(str(exc))}")
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        # Not str(exc): it echoes every input value, the secret key included.
        problems = "; ".join(
            (f"SIGNOFF_{'__'.join(str(part) for part in e['loc']).upper()}: " if e["loc"] else "")
            + e["msg"]
            for e in exc.errors(include_url=False, include_input=False)
        )
        err.print(f"[red]error:[/red] invalid settings: {escape(problems)}")
        raise typer.Exit(2) from None
    except Exception as exc:
        err.print(f"[red]error:[/red] invalid settings: {escape(str(exc))}")
        raise typer.Exit(2) from None


def open_context(check_schema: bool = True) -> Context:
    settings = load_settings()
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # httpx logs every request's full URL at INFO; a query string may carry a token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    ctx = create_context(settings)
    if check_schema:
        migrate.check_schema(ctx.engine)
    return ctx
