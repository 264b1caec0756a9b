from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from studio.training.attributes import (
    DEFAULT_CLASSIFIER_PATH,
    AttributeClassifier,
    augment,
    score,
    train_attribute_classifier,
)
from studio.training.dataset import render_dataset
from studio.training.world import SceneAttributes


@pytest.fixture(scope="module")
def classifier() -> AttributeClassifier:
    return AttributeClassifier.load()


@pytest.fixture(scope="module")
def fresh_renders():
    return render_dataset(150, seed=424242)  # a seed the shipped classifier never trained on


def test_shipped_weights_are_small() -> None:
    assert DEFAULT_CLASSIFIER_PATH.stat().st_size < 2 * 1024 * 1024
    assert DEFAULT_CLASSIFIER_PATH.with_suffix(".json").is_file()


def test_classifier_reads_fresh_renders(classifier: AttributeClassifier, fresh_renders) -> None:
    accuracy = score(classifier.classify(fresh_renders.images), fresh_renders.attributes)
    assert set(accuracy) == {"time", "body", "body_pos", "mountains", "ground", "trees", "clouds"}
    assert min(accuracy.values()) >= 0.95, accuracy


def test_classifier_resizes_other_sizes(classifier: AttributeClassifier, fresh_renders) -> None:
    images = fresh_renders.images[:60]
    larger = [np.asarray(Image.fromarray(image).resize((256, 256), Image.BICUBIC)) for image in images]
    accuracy = score(classifier.classify(larger), fresh_renders.attributes[:60])
    assert min(accuracy.values()) >= 0.9, accuracy
    single = classifier.classify(images[0])
    assert len(single) == 1 and single[0]["time"] == fresh_renders.attributes[0].time


def test_score_counts_only_what_was_asked() -> None:
    scene = SceneAttributes("day", "none", None, "none", "grey", "grass", "few", 70)
    right = {"time": "day", "body": "none", "body_pos": "none", "clouds": "none", "mountains": "grey",
             "ground": "grass", "trees": "few"}  # fmt: skip
    wrong_pos = {**right, "body_pos": "left"}  # no body expected, so the third is not judged
    assert score([right, wrong_pos], [scene, scene]) == dict.fromkeys(
        ("time", "body", "mountains", "ground", "trees", "clouds"), 1.0
    )
    # A prompt that names only some attributes is judged on those alone.
    assert score([{**right, "ground": "lake"}], [{"time": "day", "ground": "grass"}]) == {
        "time": 1.0,
        "ground": 0.0,
    }
    with pytest.raises(ValueError):
        score([right], [])


def test_augment_keeps_images_valid() -> None:
    images = torch.from_numpy(render_dataset(4, seed=1).images).permute(0, 3, 1, 2).float() / 255
    out = augment(images, torch.Generator().manual_seed(0))
    assert out.shape == images.shape and out.min() >= 0 and out.max() <= 1
    assert 0.001 < (out - images).abs().mean() < 0.1  # changed, but still the same picture


def test_smoke_train_saves_a_loadable_classifier(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    path = tmp_path / "tiny.safetensors"
    train_attribute_classifier(path, seed=1, minutes=0.03, count=32, batch_size=8, log_every=0)
    loaded = AttributeClassifier.load(path)
    assert len(loaded.classify(render_dataset(2, seed=9).images)) == 2
    with pytest.raises(FileNotFoundError):
        AttributeClassifier.load(tmp_path / "missing.safetensors")
