"""`signoff train | import-labels | calibrate | eval`: the learning loop from the terminal."""

from __future__ import annotations

import csv
import gzip
import json
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from signoff.cli.common import console, friendly, open_context
from signoff.domain import errors, limits
from signoff.domain import workflow as wf
from signoff.domain.consensus import ConsensusSpec
from signoff.domain.review_order import QueueOrder
from signoff.services import calibration, evaluation, training
from signoff.services import workflows as workflow_service
from signoff.services.context import create_context
from signoff.settings import Settings, WorkerSettings
from signoff.storage import migrate


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def read_examples(path: Path) -> Iterator[tuple[int, str, str]]:
    """(line, text, label) from JSON lines (optionally .gz) or CSV with text,label columns."""
    if not path.is_file():
        raise errors.ValidationFailed(f"no such file: {path}")
    opener = gzip.open if path.suffix == ".gz" else open
    name = path.name.removesuffix(".gz")
    with opener(path, "rt", encoding="utf-8") as handle:
        if name.endswith(".csv"):
            reader = csv.DictReader(handle)
            if not reader.fieldnames or not {"text", "label"} <= set(reader.fieldnames):
                raise errors.ValidationFailed("the CSV needs a header with text and label columns")
            for row in reader:
                yield reader.line_num, row["text"], row["label"]
            return
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                yield number, str(data["text"]), str(data["label"])
            except (json.JSONDecodeError, KeyError, TypeError):
                raise errors.ValidationFailed(
                    f"line {number}: expected a JSON object with text and label"
                ) from None


def load_examples(
    path: Path, limit: int | None = None, *, skip_unstorable: bool = False
) -> list[tuple[str, str]]:
    """The examples of `path`; text no database can store is refused naming its line.

    Real corpora hold such text (a NUL byte in an email, a lone surrogate). An import
    refuses the file, so nothing is half-imported; a replay (`skip_unstorable`) sets
    the example aside and names it, as the intake would refuse that item, so one of
    them does not end a run over thousands.
    """
    examples: list[tuple[str, str]] = []
    skipped: list[str] = []
    for number, text, label in read_examples(path):
        if limit is not None and len(examples) >= limit:
            break
        try:
            limits.check_text(text, "text")
            limits.check_text(label, "label")
        except errors.ValidationFailed as exc:
            if not skip_unstorable:
                raise errors.ValidationFailed(f"line {number}: {exc}", line=number) from None
            skipped.append(f"line {number}: {exc}")
            continue
        examples.append((text, label))
    if skipped:
        console.print(
            f"[yellow]skipped {len(skipped)} example(s) that cannot be stored:[/yellow] "
            + "; ".join(skipped[:5])
            + (" …" if len(skipped) > 5 else "")
        )
    return examples


@friendly
def import_labels(
    workflow: Annotated[str, typer.Argument(help="The workflow the labels belong to")],
    file: Annotated[
        Path, typer.Argument(help='JSON lines ({"text", "label"}) or CSV (text,label)')
    ],
) -> None:
    """Load labelled examples (JSONL or CSV with text,label) to seed the built-in model."""
    ctx = open_context()
    examples = load_examples(file)
    with _progress() as progress:
        task = progress.add_task("importing", total=len(examples))
        count = training.import_labels(
            ctx, workflow, examples, progress=lambda n: progress.advance(task, n)
        )
    console.print(
        f"imported {count} labels into {workflow}; run `signoff train {workflow}` to train"
    )


@friendly
def train(workflow: Annotated[str, typer.Argument(help="The workflow to train")]) -> None:
    """Train the built-in model on every label so far and make it the active version."""
    ctx = open_context()
    with console.status("training"):
        result = training.train_workflow(ctx, workflow)
    m = result["metrics"]
    console.print(
        f"{workflow}: model version {result['version']} from {result['n_labels']} labels; "
        f"held-out accuracy {m.get('accuracy') or 0:.3f}, calibration error {m.get('ece') or 0:.3f} "
        f"({m.get('method')}), {m.get('training_seconds', 0):.1f}s"
    )


@friendly
def calibrate(workflow: Annotated[str, typer.Argument(help="The workflow to report on")]) -> None:
    """Print the coverage / error trade-off behind the workflow's learned threshold."""
    ctx = open_context()
    report = calibration.calibration_report(ctx, workflow)
    if report["mode"] != wf.RoutingMode.ERROR_BUDGET:
        console.print(
            f"{workflow} uses routing mode {report['mode']} (threshold {report.get('threshold')})"
        )
        return
    table = Table(
        "threshold", "coverage", "reviewed above", "estimated error", "upper bound", "within budget"
    )

    def pct(value: float | None) -> str:
        return "-" if value is None else f"{value:.2%}"

    for row in report["table"]:
        table.add_row(
            f"{row['threshold']:.3f}",
            f"{row['coverage']:.1%}",
            str(row["n_above"]),
            pct(row["estimated_error"]),
            pct(row["upper_bound"]),
            "yes" if row["within_budget"] else "no",
        )
    console.print(table)
    chosen = report["threshold"]
    console.print(
        f"budget {report['error_budget']:.1%} at {report['confidence_level']:.0%} confidence; "
        f"{report['reviewed']} reviewed items; threshold in force: "
        + (f"{chosen:.3f}" if chosen is not None else "none (everything goes to people)")
        + f" — {report['reason']}"
    )


@friendly
def eval_command(
    file: Annotated[Path, typer.Argument(help="Labelled examples: JSON lines or CSV")],
    workflow_file: Annotated[Path, typer.Option("--workflow", help="Workflow YAML to evaluate")],
    output: Annotated[Path | None, typer.Option(help="Write the figures as JSON here")] = None,
    limit: Annotated[int | None, typer.Option(help="Use only the first N examples")] = None,
    batch_size: Annotated[int, typer.Option(help="Items arriving together")] = 100,
    order: Annotated[
        QueueOrder | None,
        typer.Option(help="Queue order to replay with (overrides the workflow's review.order)"),
    ] = None,
    reviews_per_batch: Annotated[
        int | None,
        typer.Option(
            min=1, help="The reviewer decides at most N tasks after each batch (default: all)"
        ),
    ] = None,
    reviewer_error_rate: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=1.0,
            help="Each simulated reviewer answers a wrong label at this rate (e.g. 0.05)",
        ),
    ] = 0.0,
    consensus: Annotated[
        int | None,
        typer.Option(
            min=2,
            max=5,
            help="Review each human-routed item by N simulated reviewers who must agree "
            "(overrides the workflow's review.consensus)",
        ),
    ] = None,
) -> None:
    """Replay a labelled data set through the engine with a simulated reviewer."""
    if not workflow_file.is_file():
        raise errors.ValidationFailed(f"no such file: {workflow_file}")
    spec = wf.load_workflow_text(workflow_file.read_text())
    overrides: dict[str, object] = {}
    if order is not None:
        overrides["order"] = order.value
    if consensus is not None:
        overrides["consensus"] = ConsensusSpec(reviewers=consensus)
    if overrides:
        review_spec = spec.review.model_copy(update=overrides)
        spec = spec.model_copy(update={"review": review_spec})
    examples = load_examples(file, limit, skip_unstorable=True)
    with tempfile.TemporaryDirectory(prefix="signoff-eval-") as tmp:
        url = f"sqlite:///{tmp}/eval.db"
        migrate.upgrade(url)
        # Every batch predicts with the newest model, so a replay does not depend
        # on how fast this machine is.
        settings = Settings(database_url=url, worker=WorkerSettings(model_refresh_seconds=0))
        ctx = create_context(settings)
        ctx.sync_training = True
        ctx.rng.seed(0)
        source = workflow_file.read_text() if not overrides else spec.model_dump(mode="json")
        workflow_service.apply_workflow(ctx, source, "eval")
        started = time.perf_counter()
        with _progress() as progress:
            task = progress.add_task("replaying", total=len(examples))
            result = evaluation.replay(
                ctx,
                spec.name,
                examples,
                batch_size=batch_size,
                progress=lambda n: progress.advance(task, n),
                reviews_per_batch=reviews_per_batch,
                reviewer_error_rate=reviewer_error_rate,
            )
        elapsed = time.perf_counter() - started
        ctx.close()
    summary = result.summary()
    summary["wall_seconds"] = round(elapsed, 2)
    summary["workflow"] = spec.name
    summary["order"] = str(spec.review.order)
    summary["reviews_per_batch"] = reviews_per_batch
    summary["reviewer_error_rate"] = reviewer_error_rate
    summary["consensus"] = (
        spec.review.consensus.model_dump(mode="json") if spec.review.consensus else None
    )
    summary["error_budget"] = spec.routing.error_budget
    table = Table(
        "items", "automation", "auto error", "human reviews", "model accuracy", "threshold"
    )
    for row in summary["learning_curve"]:
        table.add_row(
            f"{row['items_from']}-{row['items_to']}",
            f"{row['automation_rate']:.1%}",
            f"{row['auto_error_rate']:.2%}",
            str(row["human_reviews"]),
            f"{row['model_accuracy']:.1%}" if row["model_accuracy"] is not None else "-",
            f"{row['threshold']:.3f}" if row["threshold"] is not None else "-",
        )
    console.print(table)
    console.print(
        f"{summary['items']} items in {elapsed:.1f}s: automation {summary['automation_rate']:.1%}, "
        f"auto error {summary['auto_error_rate']:.2%} on {summary['auto_decided']} auto decisions, "
        f"{summary['human_reviews']} human reviews"
    )
    if reviewer_error_rate or spec.review.consensus:
        console.print(
            f"simulated reviewers erred on {summary['reviewer_mistakes']} of "
            f"{summary['reviewer_decisions']} decisions; wrong labels on "
            f"{summary['human_label_error_rate']:.2%} of human-decided items"
        )
    if output:
        output.write_text(json.dumps(summary, indent=2))
        console.print(f"figures written to {output}")
