"""The SSRF guard's URL and address rules, and the provider-credential policy."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from signoff.outbound import credentials, guard
from signoff.settings import Settings

NONE = guard.OutboundPolicy()


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fd12:3456::1", "private"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("169.254.169.254", "metadata"),
        ("fd00:ec2::254", "metadata"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("100.64.0.1", "shared address space"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "broadcast"),
        ("192.0.2.1", "documentation"),
        ("::ffff:127.0.0.1", "loopback inside IPv6"),
        ("::ffff:169.254.169.254", "metadata inside IPv6"),
        ("64:ff9b::a9fe:a9fe", "metadata through NAT64"),
    ],
)
def test_non_global_addresses_are_refused_without_an_allow_list(address: str, kind: str) -> None:
    assert not NONE.address_allowed(ipaddress.ip_address(address)), kind


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111"])
def test_global_unicast_addresses_are_allowed(address: str) -> None:
    assert NONE.address_allowed(ipaddress.ip_address(address))


def test_the_allow_list_opens_listed_hosts_and_networks_only() -> None:
    policy = guard.OutboundPolicy.parse(" vllm.internal , 10.0.0.0/8,127.0.0.1 ,fd00::/8")
    assert policy.host_allowed("VLLM.internal.")
    assert not policy.host_allowed("other.internal")
    allowed = ["10.9.9.9", "127.0.0.1", "::ffff:127.0.0.1", "fd00::5"]
    refused = ["127.0.0.2", "192.168.0.1", "172.16.0.1", "::1"]
    assert all(policy.address_allowed(ipaddress.ip_address(a)) for a in allowed)
    assert not any(policy.address_allowed(ipaddress.ip_address(a)) for a in refused)


def test_metadata_addresses_open_only_when_listed_exactly() -> None:
    metadata = ipaddress.ip_address("169.254.169.254")
    assert not guard.OutboundPolicy.parse("169.254.0.0/16,0.0.0.0/0").address_allowed(metadata)
    assert guard.OutboundPolicy.parse("169.254.169.254").address_allowed(metadata)
    assert not guard.OutboundPolicy.parse("fd00::/8").address_allowed(
        ipaddress.ip_address("fd00:ec2::254")
    )


def test_an_allow_list_entry_that_is_neither_host_nor_cidr_is_a_settings_error() -> None:
    with pytest.raises(ValueError, match="neither a host name nor a CIDR"):
        Settings(outbound={"allow": "10.0.0.0/33"})
    with pytest.raises(ValueError, match="neither a host name nor a CIDR"):
        Settings(outbound={"allow": "http://evil"})


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/x", "only http and https"),
        ("file:///etc/passwd", "only http and https"),
        ("gopher://127.0.0.1:6379/_INFO", "only http and https"),
        ("https://user:pass@example.com/hook", "credentials in the URL"),
        ("https://token@example.com/hook", "credentials in the URL"),
        ("https://example.com/hook\r\nX-Injected: 1", "control characters"),
        ("https://example.com/ho ok", "control characters"),
        ("https:///nohost", "no host"),
        ("https://example.com:99999/", "malformed"),
    ],
)
def test_malformed_or_dangerous_urls_are_refused_naming_the_field(url: str, message: str) -> None:
    with pytest.raises(guard.OutboundRefused, match=message) as caught:
        guard.check_url(url, "delivery.webhook_url")
    assert caught.value.context["field"] == "delivery.webhook_url"
    assert caught.value.detail.startswith("delivery.webhook_url: ")


def test_a_url_naming_a_loopback_host_is_refused_after_resolution() -> None:
    with pytest.raises(guard.OutboundRefused, match="loopback"):
        guard.check_destination("http://localhost:9/x", "ai.options.url", NONE)
    with pytest.raises(guard.OutboundRefused, match="metadata"):
        guard.check_destination("http://169.254.169.254/latest/", "ai.options.url", NONE)
    guard.check_destination(
        "http://localhost:9/x", "ai.options.url", guard.OutboundPolicy.parse("localhost")
    )


def test_signoff_settings_are_never_workflow_credentials() -> None:
    settings = Settings(outbound={"credentials": "MODEL_TOKEN"})
    for name in ("SIGNOFF_SECRET_KEY", "SIGNOFF_DELIVERY__WEBHOOK_SECRET", "signoff_database_url"):
        with pytest.raises(guard.OutboundRefused, match="signoff setting") as caught:
            credentials.check(settings, name, "ai.options.headers_env", "example.com")
        assert caught.value.context["field"] == "ai.options.headers_env"
    with pytest.raises(ValueError, match="signoff setting"):
        Settings(outbound={"credentials": "SIGNOFF_SECRET_KEY"})


def test_only_allow_listed_credentials_are_readable(tmp_path: Path) -> None:
    settings = Settings(
        outbound={"credentials": "MODEL_TOKEN,OPENAI_API_KEY@api.openai.com"},
        secrets_dir=str(tmp_path),
    )
    (tmp_path / "FILED_KEY").write_text("x")
    credentials.check(settings, "MODEL_TOKEN", "f", "anywhere.example")
    credentials.check(settings, "SIGNOFF_CREDENTIAL_ANYTHING", "f", "anywhere.example")
    credentials.check(settings, "FILED_KEY", "f", "anywhere.example")
    credentials.check(settings, "OPENAI_API_KEY", "f", "api.openai.com")
    with pytest.raises(guard.OutboundRefused, match="may only be sent to api.openai.com"):
        credentials.check(settings, "OPENAI_API_KEY", "f", "collector.example")
    for name in ("HOME", "DATABASE_PASSWORD", "AWS_SECRET_ACCESS_KEY"):
        with pytest.raises(guard.OutboundRefused, match="not a credential workflows may use"):
            credentials.check(settings, name, "f", "anywhere.example")


def test_no_setting_lives_in_the_credential_namespace() -> None:
    names = {name.upper() for name in Settings.model_fields}
    assert not [n for n in names if ("SIGNOFF_" + n).startswith(credentials.PREFIX)]


@pytest.mark.parametrize(
    "options",
    [
        {"api_key": "sk-live-123"},
        {"token": "abc"},
        {"Authorization": "x"},
        {"headers": {"X-Key": "abc"}},
        {"extra": {"password": "hunter2"}},
        {"auth": "user:pass"},
        {"note": "Bearer eyJhbGciOi"},
        {"model": "sk-proj-abcdef"},
    ],
)
def test_credential_looking_options_are_refused(options: dict[str, object]) -> None:
    with pytest.raises(guard.OutboundRefused, match="must not be written in a workflow"):
        credentials.refuse_inline(options)


def test_options_naming_a_variable_or_counting_tokens_are_not_credentials() -> None:
    credentials.refuse_inline(
        {
            "api_key_env": "SIGNOFF_CREDENTIAL_X",
            "headers_env": "SIGNOFF_CREDENTIAL_Y",
            "header_name": "X-Api-Key",
            "max_tokens": 100,
            "tokens_per_minute": 1000,
            "model": "gpt-4o-mini",
        }
    )
