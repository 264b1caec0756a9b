"""The judge of the Landscapes model: a small CNN that reads a scene's attributes from its pixels.

It is trained on the renderer's own images only, never on model outputs, so it measures how close the
model comes to the world rather than learning the model's habits. Blur, colour drift, noise and
softening during training make it read generated images (smoother, slightly off in colour) the way it
reads renders. One head per attribute; the body's third is trained and scored only where a body is.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageFilter
from safetensors.torch import load_file, save_file
from torch import nn

from studio.training.dataset import render_dataset
from studio.training.world import (
    BODIES,
    BODY_POSITIONS,
    CLOUDS,
    GROUNDS,
    MOUNTAINS,
    SIZE,
    TIMES,
    TREES,
    SceneAttributes,
)

HEADS: dict[str, tuple[str, ...]] = {
    "time": TIMES,
    "body": BODIES,
    "body_pos": BODY_POSITIONS,
    "mountains": MOUNTAINS,
    "ground": GROUNDS,
    "trees": TREES,
    "clouds": CLOUDS,
}
DEFAULT_CLASSIFIER_PATH = (
    Path(__file__).resolve().parents[2] / "resources" / "classifier" / "landscape_attributes.safetensors"
)
CHANNELS = (24, 32, 48, 64)  # one stride-2 stage each: 128 -> 8 px
DEEP_STAGES = 2  # the last stages get a second conv: cheap at 16 and 8 px, and tells clouds from snow caps
SPATIAL_CHANNELS = 32  # kept per 8x8 cell: where things are matters (body third, sky vs ground rows)
HIDDEN = 128


class AttributeNet(nn.Module):
    """Conv stages down to an 8x8 map, flattened (not pooled, to keep position), then one linear per head."""

    def __init__(
        self, channels: Sequence[int] = CHANNELS, hidden: int = HIDDEN, deep_stages: int = DEEP_STAGES
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        previous = 3
        for stage, width in enumerate(channels):
            strides = (2, 1) if stage >= len(channels) - deep_stages else (2,)
            for stride in strides:
                layers += [nn.Conv2d(previous, width, 3, stride=stride, padding=1, bias=False)]
                layers += [nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
                previous = width
        layers += [nn.Conv2d(previous, SPATIAL_CHANNELS, 1), nn.ReLU(inplace=True), nn.Flatten()]
        side = SIZE // 2 ** len(channels)
        layers += [nn.Linear(SPATIAL_CHANNELS * side * side, hidden), nn.ReLU(inplace=True)]
        self.body = nn.Sequential(*layers)
        self.heads = nn.ModuleDict({name: nn.Linear(hidden, len(values)) for name, values in HEADS.items()})

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """images: (N, 3, 128, 128) floats in [0, 1] -> logits per head."""
        features = self.body((images - 0.5) / 0.25)
        return {name: head(features) for name, head in self.heads.items()}


def _to_batch(images: np.ndarray | Sequence[np.ndarray]) -> torch.Tensor:
    """uint8 RGB images of any size -> (N, 3, 128, 128) floats; other sizes are resized by Pillow."""
    arrays = []
    for image in images:
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[-1] != 3:
            raise ValueError(f"expected RGB images shaped (H, W, 3), got {image.shape}")
        if image.shape[:2] != (SIZE, SIZE):
            image = np.asarray(Image.fromarray(image.astype(np.uint8)).resize((SIZE, SIZE), Image.LANCZOS))
        arrays.append(image)
    stacked = np.stack(arrays) if arrays else np.zeros((0, SIZE, SIZE, 3), np.uint8)
    return torch.from_numpy(stacked).permute(0, 3, 1, 2).float().div_(255)


class AttributeClassifier:
    """A trained AttributeNet with its labels; `classify` turns pixels into attribute names."""

    def __init__(self, net: AttributeNet, config: dict | None = None) -> None:
        self.net = net.eval().to(memory_format=torch.channels_last)
        self.config = config or {}

    @classmethod
    def load(cls, path: Path | str = DEFAULT_CLASSIFIER_PATH) -> AttributeClassifier:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no attribute classifier at {path}")
        config_path = path.with_suffix(".json")
        config = json.loads(config_path.read_text()) if config_path.is_file() else {}
        net = AttributeNet(
            config.get("channels", CHANNELS),
            config.get("hidden", HIDDEN),
            config.get("deep_stages", DEEP_STAGES),
        )
        net.load_state_dict(load_file(path))
        return cls(net, config)

    def save(self, path: Path | str) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous() for k, v in self.net.state_dict().items()}, path)
        path.with_suffix(".json").write_text(json.dumps(self.config, indent=2) + "\n")

    @torch.no_grad()
    def classify(
        self, images: np.ndarray | Sequence[np.ndarray], batch_size: int = 256
    ) -> list[dict[str, str]]:
        """Attribute names per image; body_pos is "none" when no body is seen."""
        if isinstance(images, np.ndarray) and images.ndim == 3:
            images = images[None]  # one image
        results: list[dict[str, str]] = []
        for start in range(0, len(images), batch_size):
            batch = _to_batch(images[start : start + batch_size])
            logits = self.net(batch.contiguous(memory_format=torch.channels_last))
            indices = {name: values.argmax(1).tolist() for name, values in logits.items()}
            for row in range(len(indices["time"])):
                found = {name: HEADS[name][indices[name][row]] for name in HEADS}
                if found["body"] == "none":
                    found["body_pos"] = "none"
                results.append(found)
        return results


def score(
    predicted: Sequence[Mapping[str, str]], expected: Sequence[SceneAttributes | Mapping[str, str | None]]
) -> dict[str, float]:
    """Accuracy per attribute. Expected mappings may name only some attributes; only those are scored.

    body_pos is scored only where the expected scene has a body. An attribute no image asked for is
    left out of the result rather than reported as a meaningless 0 or 1.
    """
    if len(predicted) != len(expected):
        raise ValueError(f"{len(predicted)} predictions for {len(expected)} expected scenes")
    hits: dict[str, list[bool]] = {name: [] for name in HEADS}
    for found, wanted in zip(predicted, expected, strict=True):
        wanted = asdict(wanted) if isinstance(wanted, SceneAttributes) else dict(wanted)
        for name in HEADS:
            if name not in wanted:
                continue
            if name == "body_pos" and wanted.get("body", "none") == "none":
                continue
            hits[name].append(found[name] == (wanted[name] or "none"))
    return {name: float(np.mean(values)) for name, values in hits.items() if values}


def _labels(attributes: Iterable[SceneAttributes]) -> dict[str, torch.Tensor]:
    attributes = list(attributes)
    labels = {
        name: torch.tensor([values.index(getattr(a, name) or values[0]) for a in attributes])
        for name, values in HEADS.items()
    }
    labels["has_body"] = torch.tensor([a.body != "none" for a in attributes])
    return labels


def _gaussian_kernels(sigmas: torch.Tensor, radius: int = 4) -> torch.Tensor:
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernels = torch.exp(-0.5 * (offsets[None, :] / sigmas.clamp(min=1e-3)[:, None]) ** 2)
    return kernels / kernels.sum(1, keepdim=True)


def augment(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Make renders look like a diffusion model's outputs: blurred, softened, colour-shifted, noisy."""
    n = images.shape[0]

    def uniform(low: float, high: float, *shape: int) -> torch.Tensor:
        return torch.rand(n, *shape, generator=generator) * (high - low) + low

    # Gaussian blur, sigma 0-1.5 px, separable; one kernel per image via grouped convolution.
    sigmas = uniform(0.0, 1.5) * (torch.rand(n, generator=generator) < 0.7)
    kernels = _gaussian_kernels(sigmas).repeat_interleave(3, 0)  # (n*3, taps)
    taps = kernels.shape[1]
    flat = F.pad(images.reshape(1, n * 3, SIZE, SIZE), (taps // 2,) * 4, mode="replicate")
    flat = F.conv2d(flat, kernels[:, None, :, None], groups=n * 3)
    flat = F.conv2d(flat, kernels[:, None, None, :], groups=n * 3)
    images = flat.reshape(n, 3, SIZE, SIZE)
    # Softening as from a lossy codec or a VAE: down to 50-90% and back up, on a third of the batch.
    if torch.rand(1, generator=generator).item() < 0.33:
        side = int(SIZE * uniform(0.5, 0.9, 1)[0].item())
        images = F.interpolate(
            images, size=(side, side), mode="bilinear", antialias=True, align_corners=False
        )
        images = F.interpolate(images, size=(SIZE, SIZE), mode="bilinear", align_corners=False)
    # Colour: a few percent of gain per image and per channel, contrast, and offset.
    mean = images.mean((1, 2, 3), keepdim=True)
    images = (images - mean) * uniform(0.92, 1.08, 1, 1, 1) + mean
    gain = uniform(0.95, 1.05, 1, 1, 1) * uniform(0.97, 1.03, 3, 1, 1)
    images = images * gain + uniform(-0.03, 0.03, 3, 1, 1)
    # Pixel noise up to about 8/255.
    images = images + torch.randn(images.shape, generator=generator) * uniform(0.0, 0.03, 1, 1, 1)
    return images.clamp(0, 1)


def train_attribute_classifier(
    out_path: Path | str = DEFAULT_CLASSIFIER_PATH,
    seed: int = 0,
    minutes: float = 2.0,
    count: int = 20000,
    batch_size: int = 64,
    log_every: int = 50,
) -> AttributeClassifier:
    """Train on `count` fresh renders for `minutes` of wall time and save weights + json config."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    started = time.monotonic()
    data = render_dataset(count, seed=seed)
    images = torch.from_numpy(data.images).permute(0, 3, 1, 2)  # uint8, converted per batch
    labels = _labels(data.attributes)
    # channels_last runs these convolutions about 1.7x faster on CPU.
    net = AttributeNet().to(memory_format=torch.channels_last)
    optimiser = torch.optim.AdamW(net.parameters(), lr=3e-3, weight_decay=1e-4)
    budget = minutes * 60 - (time.monotonic() - started)
    train_started, step, seen = time.monotonic(), 0, 0
    net.train()
    while (elapsed := time.monotonic() - train_started) < budget:
        # Cosine decay over the wall-clock budget: the number of steps depends on the machine.
        for group in optimiser.param_groups:
            group["lr"] = 3e-3 * 0.5 * (1 + math.cos(math.pi * elapsed / budget))
        index = torch.randint(0, count, (batch_size,), generator=generator)
        batch = augment(images[index].float().div_(255), generator)
        logits = net(batch.contiguous(memory_format=torch.channels_last))
        loss = sum(F.cross_entropy(logits[name], labels[name][index]) for name in HEADS if name != "body_pos")
        has_body = labels["has_body"][index]
        if has_body.any():
            loss = loss + F.cross_entropy(logits["body_pos"][has_body], labels["body_pos"][index][has_body])
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        step, seen = step + 1, seen + batch_size
        if log_every and step % log_every == 0:
            rate = seen / (time.monotonic() - train_started)
            print(f"step {step:5d}  loss {loss.item():.4f}  {rate:.0f} img/s", flush=True)
    config = {
        "heads": {name: list(values) for name, values in HEADS.items()},
        "channels": list(CHANNELS),
        "hidden": HIDDEN,
        "deep_stages": DEEP_STAGES,
        "input_size": SIZE,
        "training": {"seed": seed, "renders": count, "steps": step, "batch_size": batch_size},
    }
    classifier = AttributeClassifier(net.eval(), config)
    classifier.save(out_path)
    return classifier


def accuracy_on_renders(
    classifier: AttributeClassifier, count: int = 2000, seed: int = 1_000_003, blur_sigma: float = 0.0
) -> dict[str, float]:
    """Per-attribute accuracy on fresh renders (a seed training never uses), optionally Gaussian-blurred."""
    data = render_dataset(count, seed=seed)
    images = data.images
    if blur_sigma > 0:
        blur = ImageFilter.GaussianBlur(blur_sigma)
        images = np.stack([np.asarray(Image.fromarray(image).filter(blur)) for image in images])
    return score(classifier.classify(images), data.attributes)
