"""`provider: builtin`: abstains until a model exists, then predicts with it."""

from __future__ import annotations

import importlib.util
import random
from collections.abc import Iterator

import pytest

from signoff.ai import base, builtin_provider, learner
from signoff.ai.base import AiInput, ProviderContext
from signoff.domain import errors
from signoff.domain.workflow import WorkflowSpec
from signoff.settings import Settings

TOPICS = {
    "billing": "invoice payment amount due refund charge receipt",
    "security": "password login reset account locked phishing token",
}
NOISE = ["the", "a", "please", "thanks", "hello", "regards", "team", "note", "update", "quick"]


def corpus(n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    texts, labels = [], []
    for i in range(n):
        label = ("billing", "security")[i % 2]
        words = rng.sample(TOPICS[label].split(), 3) + rng.sample(NOISE, 4)
        rng.shuffle(words)
        texts.append(" ".join(words))
        labels.append(label)
    return texts, labels


class MemoryModelStore:
    """An in-memory model store: one active (version, artifact) per workflow."""

    def __init__(self) -> None:
        self.active: dict[str, tuple[str, bytes]] = {}
        self.loads = 0

    def load_active_model(self, workflow: str) -> tuple[str, bytes] | None:
        self.loads += 1
        return self.active.get(workflow)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def artifact() -> bytes:
    return learner.train(*corpus(80)).to_bytes()


@pytest.fixture()
def spec() -> WorkflowSpec:
    return WorkflowSpec(
        name="inbox",
        labels=["billing", "security"],
        entities=[{"type": "invoice", "patterns": [r"INV-\d+"]}],  # type: ignore[list-item]
    )


@pytest.fixture()
def store() -> Iterator[MemoryModelStore]:
    yield MemoryModelStore()


def item(text: str, item_id: int = 1) -> AiInput:
    return AiInput(item_id=item_id, text=text, content={"text": text})


def test_cold_start_abstains_without_an_error(spec: WorkflowSpec, store: MemoryModelStore) -> None:
    provider = builtin_provider.create(spec, ProviderContext(lambda _: None, store))
    prediction = provider.predict(item("refund for INV-77 please"))
    assert prediction.label is None
    assert prediction.confidence is None
    assert prediction.error is None
    assert prediction.model == "builtin"
    assert prediction.confidence_method is None
    assert [e.text for e in prediction.entities] == ["INV-77"]


def test_without_a_model_store_every_prediction_abstains(spec: WorkflowSpec) -> None:
    provider = builtin_provider.create(spec, ProviderContext(lambda _: None))
    assert provider.predict_batch([item("a"), item("b", 2)])[1].confidence is None


def test_with_an_active_model_it_predicts_a_label_with_calibrated_confidence(
    spec: WorkflowSpec, store: MemoryModelStore, artifact: bytes
) -> None:
    store.active["inbox"] = ("3", artifact)
    provider = builtin_provider.create(spec, ProviderContext(lambda _: None, store))
    prediction = provider.predict(item("please reset my password, account locked"))
    assert prediction.label == "security"
    assert prediction.confidence is not None and prediction.confidence > 0.5
    assert prediction.confidence == pytest.approx(prediction.scores["security"])
    assert sum(prediction.scores.values()) == pytest.approx(1.0)
    assert prediction.confidence_method == "calibrated"
    assert (prediction.model, prediction.model_version) == ("builtin", "3")


def test_a_batch_gives_the_same_answers_as_single_predictions(
    spec: WorkflowSpec, store: MemoryModelStore, artifact: bytes
) -> None:
    store.active["inbox"] = ("1", artifact)
    provider = builtin_provider.BuiltinProvider(spec, store)
    items = [item("invoice due INV-9", 1), item("phishing login token", 2), item("hello", 3)]
    batch = provider.predict_batch(items)
    assert batch == [provider.predict(i) for i in items]
    assert [p.label for p in batch[:2]] == ["billing", "security"]
    assert [e.text for e in batch[0].entities] == ["INV-9"]
    assert provider.predict_batch([]) == []


def test_a_new_model_version_is_picked_up_after_the_refresh_interval(
    spec: WorkflowSpec, store: MemoryModelStore, artifact: bytes
) -> None:
    clock = Clock()
    provider = builtin_provider.BuiltinProvider(spec, store, refresh_seconds=1.0, clock=clock)
    assert provider.predict(item("invoice")).label is None
    store.active["inbox"] = ("1", artifact)
    clock.now += 0.5
    assert provider.predict(item("invoice")).label is None  # not asked again yet
    clock.now += 0.6
    assert provider.predict(item("invoice")).model_version == "1"
    store.active["inbox"] = ("2", artifact)
    clock.now += 1.0
    assert provider.predict(item("invoice")).model_version == "2"
    assert store.loads == 3


def test_with_a_zero_refresh_setting_every_batch_asks_for_the_newest_model(
    spec: WorkflowSpec, store: MemoryModelStore, artifact: bytes
) -> None:
    # What `signoff eval` runs with: a replay must not depend on the machine's speed.
    settings = Settings(worker={"model_refresh_seconds": 0})  # type: ignore[arg-type]
    provider = base.create_provider(spec, ProviderContext(lambda _: None, store, settings=settings))
    assert provider.predict(item("invoice")).label is None
    store.active["inbox"] = ("1", artifact)
    assert provider.predict(item("invoice")).model_version == "1"
    store.active["inbox"] = ("2", artifact)
    assert provider.predict(item("invoice")).model_version == "2"


def test_a_model_knowing_labels_the_workflow_dropped_predicts_a_declared_label(
    store: MemoryModelStore, artifact: bytes
) -> None:
    narrowed = WorkflowSpec(name="inbox", labels=["billing"])
    store.active["inbox"] = ("1", artifact)
    provider = builtin_provider.BuiltinProvider(narrowed, store)
    prediction = provider.predict(item("reset my password"))
    assert prediction.label == "billing"
    assert prediction.confidence == pytest.approx(prediction.scores["billing"])


def test_a_corrupt_artifact_fails_as_a_non_retryable_provider_error(
    spec: WorkflowSpec, store: MemoryModelStore
) -> None:
    store.active["inbox"] = ("1", b"junk")
    provider = builtin_provider.BuiltinProvider(spec, store)
    with pytest.raises(errors.ProviderError) as caught:
        provider.predict(item("x"))
    assert caught.value.retryable is False


def test_builtin_is_registered_with_the_provider_registry(
    spec: WorkflowSpec, store: MemoryModelStore
) -> None:
    assert "builtin" in base.provider_names()
    provider = base.create_provider(spec, ProviderContext(lambda _: None, store))
    assert isinstance(provider, builtin_provider.BuiltinProvider)
    assert isinstance(provider, base.BatchProvider)


@pytest.mark.skipif(
    importlib.util.find_spec("sentence_transformers") is not None,
    reason="sentence-transformers is installed here",
)
def test_an_embeddings_option_without_the_extra_is_a_config_error(tmp_path) -> None:
    spec = WorkflowSpec(
        name="inbox",
        labels=["billing", "security"],
        ai={"options": {"embeddings_model_path": str(tmp_path)}},  # type: ignore[arg-type]
    )
    with pytest.raises(errors.ConfigError, match="signoff\\[embeddings\\]"):
        builtin_provider.create(spec, ProviderContext(lambda _: None))
