"""Ready workflows for common review work, each with generated sample data and a README."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources

from signoff.domain import errors
from signoff.templates import generate


@dataclass(frozen=True)
class Template:
    name: str
    summary: str
    make: Callable[[int, int, float], list[generate.Example]]

    def workflow_source(self) -> str:
        if self.name == "document-review":
            return resources.files("signoff.demo").joinpath("workflow.yaml").read_text()
        return resources.files("signoff.templates").joinpath(f"files/{self.name}.yaml").read_text()

    def examples(
        self, n: int, seed: int = 7, ambiguous_share: float = 0.12
    ) -> list[generate.Example]:
        return self.make(n, seed, ambiguous_share)


TEMPLATES = {
    t.name: t
    for t in (
        Template("document-review", "invoices, contracts and receipts", generate.document_review),
        Template(
            "content-moderation",
            "user posts: allow, remove or escalate; self-harm and legal threats to people",
            generate.moderation,
        ),
        Template(
            "customer-onboarding",
            "KYC-style applications: risk-sorted, sanctions hits always to people",
            generate.onboarding,
        ),
        Template(
            "billing-disputes",
            "refund requests: approve, deny or refund part of the amount",
            generate.billing,
        ),
        Template("support-triage", "support tickets routed to a team", generate.support),
    )
}


def get_template(name: str) -> Template:
    """The template called `name`; ValidationFailed lists the ones there are."""
    found = TEMPLATES.get(name)
    if found is None:
        raise errors.ValidationFailed(
            f"no template named {name!r}; choose one of {', '.join(TEMPLATES)}", field="template"
        )
    return found
