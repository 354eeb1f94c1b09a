"""Apply-time checks of everything a workflow makes signoff call or read.

Run before a workflow version is stored: the AI provider's own check (its options,
its URL's addresses, the name of its credential), the webhook URL, the name of
the signing secret, and each notify rule's URL and credential names. Each refusal is an InvalidWorkflow that names the field.
"""

from __future__ import annotations

from signoff.ai import base as ai
from signoff.domain import workflow as wf
from signoff.outbound import client as outbound_client
from signoff.outbound import credentials, guard
from signoff.services.context import Context


def check_workflow(ctx: Context, spec: wf.WorkflowSpec) -> None:
    """Refuse a workflow that would call a forbidden address or read a forbidden secret."""
    ai.check_provider(spec, ai.ProviderContext(secrets=ctx.secret, settings=ctx.settings))
    url = spec.delivery.webhook_url
    if url is not None:
        guard.check_destination(
            url, "delivery.webhook_url", outbound_client.policy_from(ctx.settings)
        )
    if spec.delivery.secret_env is not None:
        credentials.check(ctx.settings, spec.delivery.secret_env, "delivery.secret_env", None)
    _check_notify(ctx, spec)


def _check_notify(ctx: Context, spec: wf.WorkflowSpec) -> None:
    """Each notify rule's URL through the SSRF guard and its credential names on the allow-list."""
    policy = outbound_client.policy_from(ctx.settings)
    for index, rule in enumerate(spec.notify):
        if rule.url is not None:
            guard.check_destination(rule.url, f"notify.{index}.url", policy)
        for name in ("webhook_url_env", "routing_key_env", "secret_env"):
            value = getattr(rule, name)
            if value is not None:
                credentials.check(ctx.settings, value, f"notify.{index}.{name}", None)
