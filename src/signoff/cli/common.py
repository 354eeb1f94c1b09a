"""What every command shares: consoles, friendly errors, settings and the context."""

from __future__ import annotations

import functools
import gc
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import sqlalchemy as sa
import typer
import typer.core
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


class Group(typer.core.TyperGroup):
    """A command group whose help names each value (`--port PORT`) instead of its type.

    Typer shows a parameter's Python type as a tag (`<str>`, `<int>`), flags and
    `--help` included (`<bool>`): an option shows its metavar instead when it has one,
    an argument always shows the tag. This gives every option a metavar (a flag an
    empty one) and arguments no tag (their name says what they take), keeping choice
    lists (`<admin|reviewer>`).
    """

    def get_params(self, ctx: Any) -> list[Any]:
        return _named_values(super().get_params(ctx))

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is not None and not isinstance(command, Group):
            _named_values(command.get_params(ctx))
        return command


def _named_values(params: list[Any]) -> list[Any]:
    for param in params:
        if param.metavar is not None or param.type_descriptor.is_choice:
            continue
        if getattr(param, "is_flag", False):
            param.metavar = ""
        else:
            param.metavar = (param.name or "value").upper()
        if isinstance(param, typer.core.TyperArgument):
            # TyperArgument has no metavar-aware type column; this instance shows none.
            setattr(param, "display_type_rich", _no_type)  # noqa: B010
    return params


def _no_type(ctx: Any) -> None:
    return None


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


def settle_heap() -> None:
    """Keep the garbage collector off what start-up built (modules, the app, the engine).

    A long-running process keeps those objects for life, yet every full collection
    walked all of them: some 175,000, 40 ms or more each time, a pause served to
    whichever requests were in flight. Frozen, a full collection walks only what
    was made since.
    """
    gc.collect()
    gc.freeze()


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
