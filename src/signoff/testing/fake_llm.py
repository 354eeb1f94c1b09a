"""The fake servers under their former module name; new code imports them from
`signoff.testing.fake_chat`, `fake_endpoint` and `scripted_server`."""

from __future__ import annotations

from signoff.testing.fake_chat import FakeChatServer, token_logprobs
from signoff.testing.fake_endpoint import FakeModelEndpoint
from signoff.testing.scripted_server import RecordedRequest, Reply, ScriptedServer

__all__ = [
    "FakeChatServer",
    "FakeModelEndpoint",
    "RecordedRequest",
    "Reply",
    "ScriptedServer",
    "token_logprobs",
]
