"""Admin pages: workflows (source, versions, threshold status), users and roles, API keys."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from signoff.domain import access, compliance, errors
from signoff.domain.states import Role
from signoff.domain.workflow import RoutingMode
from signoff.services import calibration, orgs, stop_switch, users
from signoff.services import workflows as workflow_service
from signoff.services.context import Context
from signoff.ui import render, security
from signoff.web import CtxDep

router = APIRouter(prefix="/ui/admin", dependencies=[Depends(security.verify_csrf)])


def budget_status(report: dict[str, Any]) -> dict[str, str]:
    """A one-word status and a sentence for a workflow's threshold."""
    mode = report["mode"]
    if mode == RoutingMode.FIXED:
        return {
            "tone": "neutral",
            "word": "fixed",
            "text": f"fixed threshold {report['threshold']:.2f}",
        }
    if mode == RoutingMode.ALWAYS_HUMAN:
        return {"tone": "neutral", "word": "manual", "text": "every item goes to a person"}
    upper, budget = report.get("auto_error_upper_bound"), report["error_budget"]
    if report.get("threshold") is None:
        return {"tone": "warn", "word": "learning", "text": report.get("reason") or ""}
    if upper is not None and upper <= budget:
        return {
            "tone": "ok",
            "word": "within budget",
            "text": f"upper bound {upper:.2%} ≤ budget {budget:.2%} "
            f"at threshold {report['threshold']:.3f}",
        }
    return {"tone": "bad", "word": "over budget", "text": report.get("reason") or ""}


def _visible(principal: users.Principal, name: str) -> str:
    """`name`, if the admin may see that workflow; else WorkflowNotFound (another org's)."""
    if not principal.may_access(name):
        raise errors.WorkflowNotFound(f"no workflow named {name!r}", workflow=name)
    return name


def _org_names(ctx: Context, principal: users.Principal) -> dict[int, str]:
    """Org names by id for a platform admin's listings (an org's admin sees only theirs)."""
    return orgs.org_names(ctx) if principal.is_platform else {}


def _reports(ctx: Context, principal: users.Principal) -> list[dict[str, Any]]:
    rows = []
    for view in workflow_service.list_workflows(ctx):
        if not principal.may_access(view.name):
            continue
        report = calibration.calibration_report(ctx, view.name)
        rows.append({"view": view, "report": report, "status": budget_status(report)})
    return rows


@router.get("")
def admin_home(principal: security.AdminUI) -> Response:
    return RedirectResponse("/ui/admin/workflows", 303)


@router.get("/workflows")
def workflows_page(request: Request, ctx: CtxDep, principal: security.AdminUI) -> Response:
    return render.render(
        request, "admin_workflows.html", {"title": "Workflows", "rows": _reports(ctx, principal)}
    )


@router.get("/workflows/{name}")
def workflow_page(
    name: str,
    request: Request,
    ctx: CtxDep,
    principal: security.AdminUI,
    source: str | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    """Current YAML source, every version, and the threshold's evidence."""
    view = workflow_service.get_workflow(ctx, _visible(principal, name))
    report = calibration.calibration_report(ctx, name)
    return render.render(
        request,
        "admin_workflow.html",
        {
            "title": f"Workflow {name}",
            "view": view,
            "report": report,
            "status": budget_status(report),
            "versions": workflow_service.list_versions(ctx, name),
            "draft": source if source is not None else view.source,
            "error": error,
        },
        status=status,
    )


@router.post("/workflows/{name}")
def apply_workflow(
    name: str,
    request: Request,
    ctx: CtxDep,
    principal: security.AdminUI,
    form: security.FormDep,
) -> Response:
    """Apply edited YAML as a new version (unchanged text makes no version)."""
    source = form.get("source", "")
    try:
        view, created = workflow_service.apply_workflow(
            ctx,
            source,
            principal.actor,
            name=_visible(principal, name),
            org_id=principal.org_id,
            caller_org=principal.org_id,
        )
    except errors.InvalidWorkflow as exc:
        return workflow_page(
            name, request, ctx, principal, source=source, error=exc.detail, status=422
        )
    security.flash(
        request,
        f"Workflow {name} is now version {view.version}." if created else "Nothing changed.",
        "success" if created else "info",
    )
    return RedirectResponse(f"/ui/admin/workflows/{name}", 303)


@router.post("/workflows/{name}/pause")
def pause_workflow(
    name: str,
    request: Request,
    ctx: CtxDep,
    principal: security.AdminUI,
    form: security.FormDep,
) -> Response:
    """The stop switch's button: pause in the chosen mode, with an optional reason."""
    try:
        mode = compliance.PauseMode(form.get("mode", ""))
    except ValueError:
        raise errors.ValidationFailed(
            "mode: choose refuse or all_to_people", field="mode"
        ) from None
    reason = form.get("reason", "").strip() or None
    stop_switch.pause_workflow(ctx, _visible(principal, name), mode, reason, principal.actor)
    security.flash(request, f"Workflow {name} is paused.", "info")
    return RedirectResponse(f"/ui/admin/workflows/{name}", 303)


@router.post("/workflows/{name}/resume")
def resume_workflow(
    name: str,
    request: Request,
    ctx: CtxDep,
    principal: security.AdminUI,
    form: security.FormDep,
) -> Response:
    """Lift the pause."""
    stop_switch.resume_workflow(ctx, _visible(principal, name), principal.actor)
    security.flash(request, f"Workflow {name} is running again.", "success")
    return RedirectResponse(f"/ui/admin/workflows/{name}", 303)


@router.get("/users")
def users_page(request: Request, ctx: CtxDep, principal: security.AdminUI) -> Response:
    return render.render(
        request,
        "admin_users.html",
        {
            "title": "Users",
            "users": users.list_users(ctx, caller_org=principal.org_id),
            "roles": [r.value for r in Role],
            "org_names": _org_names(ctx, principal),
        },
    )


@router.post("/users")
def add_user(
    request: Request, ctx: CtxDep, principal: security.AdminUI, form: security.FormDep
) -> Response:
    workflows = [w.strip() for w in form.get("workflows", "").split(",") if w.strip()]
    try:
        role = Role(form.get("role", ""))
        users.add_user(
            ctx,
            form.get("email", ""),
            role,
            password=form.get("password") or None,
            display_name=form.get("display_name") or None,
            workflows=workflows or None,
            actor=principal.actor,
            org_id=principal.org_id,
        )
    except (ValueError, errors.ValidationFailed) as exc:
        detail = exc.detail if isinstance(exc, errors.ValidationFailed) else "role: unknown role"
        security.flash(request, detail, "error")
    else:
        security.flash(request, f"Added {form.get('email', '').strip().lower()}.", "success")
    return RedirectResponse("/ui/admin/users", 303)


@router.post("/users/{user_id}")
def change_user(
    user_id: int,
    request: Request,
    ctx: CtxDep,
    principal: security.AdminUI,
    form: security.FormDep,
) -> Response:
    """Change a user's role or deactivate them (not yourself: someone must stay admin)."""
    try:
        role = Role(form.get("role", ""))
    except ValueError:
        raise errors.ValidationFailed("role: unknown role", field="role") from None
    active = form.get("active") == "1"
    try:
        users.set_role(
            ctx,
            user_id,
            role,
            active,
            principal.actor,
            acting_user_id=principal.user_id,
            caller_org=principal.org_id,
        )
    except errors.Forbidden as exc:
        security.flash(request, exc.detail, "error")
        return RedirectResponse("/ui/admin/users", 303)
    security.flash(request, "Saved.", "success")
    return RedirectResponse("/ui/admin/users", 303)


def _keys_page(
    request: Request,
    ctx: Context,
    principal: users.Principal,
    created: dict[str, Any] | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    return render.render(
        request,
        "admin_keys.html",
        {
            "title": "API keys",
            "keys": [
                {"row": k, "powers": users.key_powers(k)}
                for k in users.list_keys(ctx, caller_org=principal.org_id)
            ],
            "users": users.list_users(ctx, caller_org=principal.org_id),
            "org_names": _org_names(ctx, principal),
            "scopes": list(access.Scope),
            "default_scopes": [s.value for s in access.DEFAULT_SCOPES],
            "workflows": [
                v.name for v in workflow_service.list_workflows(ctx) if principal.may_access(v.name)
            ],
            "created": created,
            "error": error,
        },
        status=status,
    )


@router.get("/keys")
def keys_page(request: Request, ctx: CtxDep, principal: security.AdminUI) -> Response:
    return _keys_page(request, ctx, principal)


@router.post("/keys")
def create_key(
    request: Request, ctx: CtxDep, principal: security.AdminUI, form: security.FormListsDep
) -> Response:
    """Create a key and show its secret this once (the page is not cached)."""
    name = (form.get("name") or [""])[-1].strip()[:255]
    email = (form.get("email") or [""])[-1] or None
    if not name:
        security.flash(request, "Give the key a name.", "error")
        return RedirectResponse("/ui/admin/keys", 303)
    try:
        scopes = access.parse_scopes(form.get("scope")) if not email else frozenset()
        key_id, token = users.create_key(
            ctx,
            name,
            email,
            principal.actor,
            scopes=scopes,
            workflows=[w for w in form.get("workflow", []) if w] or None,
            caller_org=principal.org_id,
        )
    except ValueError as exc:
        return _keys_page(request, ctx, principal, error=f"scope: {exc}", status=422)
    except (errors.ValidationFailed, errors.NotFound, errors.Forbidden) as exc:
        return _keys_page(request, ctx, principal, error=exc.detail, status=422)
    return _keys_page(request, ctx, principal, {"id": key_id, "name": name, "token": token})


@router.post("/keys/{key_id}/revoke")
def revoke_key(key_id: int, request: Request, ctx: CtxDep, principal: security.AdminUI) -> Response:
    users.revoke_key(ctx, key_id, principal.actor, caller_org=principal.org_id)
    security.flash(request, f"Key {key_id} is revoked.", "success")
    return RedirectResponse("/ui/admin/keys", 303)
