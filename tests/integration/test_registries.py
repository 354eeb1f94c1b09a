"""Provider and channel registries: built-ins come through the same entry points as plugins."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from importlib.metadata import entry_points

import pytest

from signoff.ai import base
from signoff.domain import errors
from signoff.domain.workflow import parse_workflow
from signoff.services import workflows as workflow_service
from signoff.services.context import create_context
from tests.conftest import make_settings

STRONG_KEY = "k3y-" + "abcdefghijklmnopqrstuvwxyz0123456789"
FAKE = "name: t\nlabels: [ok, held]\nai: {provider: fake}\n"


def _run(code: str) -> dict[str, object]:
    """Run `code` in a fresh interpreter (registries are per process) and read its JSON."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_the_built_ins_are_declared_as_entry_points() -> None:
    providers = {ep.name: ep.value for ep in entry_points(group="signoff.providers")}
    channels = {ep.name: ep.value for ep in entry_points(group="signoff.channels")}
    assert {"builtin", "python", "openai", "http", "fake"} <= set(providers)
    assert providers["fake"] == "signoff.testing.fake_provider:create"
    assert channels["webhook"] == "signoff.notify.webhook:create"
    assert channels["notify.pagerduty"] == "signoff.notify.pagerduty:create"


def test_registering_a_plugin_channel_first_keeps_the_webhook_channel() -> None:
    result = _run(
        """
        import json
        from signoff.notify import base
        from signoff.settings import Settings

        class Pager:
            def send(self, message):
                return base.SendResult(True)

        base.register_channel("pager", lambda context: Pager())
        webhook = base.create_channel("webhook", Settings())
        pager = base.create_channel("pager", Settings())
        print(json.dumps({"webhook": type(webhook).__name__, "pager": type(pager).__name__,
                          "kinds": base.channel_kinds()}))
        """
    )
    kinds = result.pop("kinds")
    assert result == {"webhook": "WebhookChannel", "pager": "Pager"}
    # The plugin joins every built-in channel (review notifications are notify.*).
    assert kinds == sorted(kinds)
    assert {"pager", "webhook", "notify.email", "notify.slack", "notify.pagerduty"} <= set(kinds)


def test_providers_load_on_first_use_and_ai_base_does_not_import_the_testing_package() -> None:
    result = _run(
        """
        import json, sys
        from signoff.ai import base
        from signoff.domain.workflow import parse_workflow
        from signoff.settings import Settings

        names = base.provider_names()
        before = sorted(m for m in ("openai", "signoff.testing", "signoff.ai.openai_provider",
                                    "signoff.ai.builtin_provider") if m in sys.modules)
        spec = parse_workflow({"name": "t", "labels": ["ok"], "ai": {"provider": "fake"}})
        provider = base.create_provider(spec, base.ProviderContext(lambda n: None, settings=Settings()))
        print(json.dumps({"names": names, "before": before, "provider": provider.name,
                          "openai_loaded": "openai" in sys.modules}))
        """
    )
    assert {"builtin", "fake", "http", "openai", "python"} <= set(result["names"])  # type: ignore[arg-type]
    assert result["before"] == []
    assert result["provider"] == "fake"
    assert result["openai_loaded"] is False


def test_a_registered_provider_is_built_and_its_check_runs_at_apply() -> None:
    registry = base.ProviderRegistry(group="signoff.no-such-group")
    checked: list[str] = []

    class Mine:
        name = "mine"

    def check(spec: object, context: base.ProviderContext) -> None:
        checked.append("checked")

    registry.register("mine", lambda spec, context: Mine(), check)
    entry = registry.entry("mine")
    spec = parse_workflow({"name": "t", "labels": ["ok"], "ai": {"provider": "mine"}})
    assert entry.factory(spec, base.ProviderContext(lambda n: None)).name == "mine"
    assert entry.check is check
    with pytest.raises(errors.InvalidWorkflow, match="unknown provider 'other'"):
        registry.entry("other")


def test_the_fake_provider_is_refused_outside_development(sqlite_url: str) -> None:
    ctx = create_context(make_settings(sqlite_url, environment="production", secret_key=STRONG_KEY))
    try:
        with pytest.raises(
            errors.InvalidWorkflow, match="SIGNOFF_TESTING__FAKE_PROVIDER"
        ) as caught:
            workflow_service.apply_workflow(ctx, FAKE, "test")
        assert caught.value.context["field"] == "ai.provider"
    finally:
        ctx.close()


def test_the_fake_provider_is_allowed_when_the_operator_says_so(sqlite_url: str) -> None:
    settings = make_settings(
        sqlite_url,
        environment="production",
        secret_key=STRONG_KEY,
        testing={"fake_provider": True},
    )
    ctx = create_context(settings)
    try:
        view, created = workflow_service.apply_workflow(ctx, FAKE, "test")
        assert (view.spec.ai.provider, created) == ("fake", True)
    finally:
        ctx.close()
