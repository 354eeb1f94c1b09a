"""The workflow's instructions on the item page: markdown rendered, raw HTML never run."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import Keys
from tests.integration import notify_support
from tests.integration.notify_support import _submit
from tests.integration.test_ui_security import sign_in

nctx = notify_support.nctx
clock = notify_support.clock
nclient = notify_support.nclient
nkeys = notify_support.nkeys

INSTRUCTIONS = (
    "Check the **IBAN** against the supplier record.\\n\\n"
    "- call `finance` if unsure\\n\\n"
    "<script>alert(1)</script> <img src=x onerror=alert(2)>\\n\\n"
    "[help](javascript:alert(3)) [wiki](https://wiki.example/iban)"
)


def test_item_page_shows_instructions_as_markdown_without_running_html(
    nclient: TestClient, nkeys: Keys
) -> None:
    body = (
        "name: instr\nlabels: [invoice, other]\nai: {provider: fake}\n"
        f'routing: {{threshold: 0.85}}\nreview: {{instructions: "{INSTRUCTIONS}"}}\n'
    )
    applied = nclient.put("/api/v1/workflows/instr", content=body, headers=nkeys.auth(nkeys.admin))
    assert applied.status_code == 201, applied.text
    item_id = _submit(nclient, nkeys, workflow="instr")
    sign_in(nclient, "reviewer@example.com", "reviewer-password-1")
    html = nclient.get(f"/ui/items/{item_id}").text
    section = html.split('id="instructions"', 1)[1].split("</section>", 1)[0]
    assert "Check the <strong>IBAN</strong> against the supplier record." in section
    assert "<li>call <code>finance</code> if unsure</li>" in section
    assert '<a href="https://wiki.example/iban">wiki</a>' in section
    assert "<script>" not in section and "&lt;script&gt;alert(1)&lt;/script&gt;" in section
    assert "<img" not in section and "&lt;img" in section
    assert 'href="javascript' not in section
