"""What the web edges (REST API and UI) share: the service context of the running app."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from signoff.services.context import Context


def get_ctx(request: Request) -> Context:
    return request.app.state.ctx  # type: ignore[no-any-return]


CtxDep = Annotated[Context, Depends(get_ctx)]
