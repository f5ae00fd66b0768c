"""The real-time relevance student (companion paper): a small MLP over the cheap pair features of `features.py`,
distilled from the teacher, that re-ranks the first stage's top N in the serving path.

    x (n, F) → standardize → Linear(F, H) → ReLU → Linear(H, H) → ReLU → Linear(H, C) → z (n, C)

"levels" scale: C = the number of levels, trained with soft cross-entropy against the teacher's distribution
(the paper's recipe); the prediction is the expected label. "mean" scale: C = 1, low + (high - low)·sigmoid(z),
trained with MSE against the teacher's score or the raters' mean. Serving runs the numpy forward below (faster
than torch for 100 rows on one thread: docs/relevance.md); torch only trains.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from omnisage.atomic import atomic_folder
from omnisage.config import RelevanceConfig
from omnisage.data.scale import RelevanceScale
from omnisage.errors import DataError, OmniSageError

WEIGHTS, MANIFEST = "student.safetensors", "student.json"
FORMAT = "omnisage-relevance-student"
BATCH_SIZE = 512


@dataclass(frozen=True)
class StudentTargets:
    """What the student fits, one row per pair: a label on the scale, and for "levels" optionally a distribution."""

    score: np.ndarray  # (n,) float64: the teacher's expected label, or the human label
    probs: np.ndarray | None = (
        None  # (n, C) float32 over the levels; None: one-hot of the level nearest `score`
    )

    def __post_init__(self) -> None:
        n = len(self.score)
        if self.probs is not None and (self.probs.ndim != 2 or len(self.probs) != n):
            raise DataError(f"student targets: probs {self.probs.shape} do not match {n} scores")

    def distribution(self, scale: RelevanceScale) -> np.ndarray:
        """(n, C) float32 class targets of a "levels" scale: the probs, else one-hot of the nearest level."""
        if self.probs is not None:
            if self.probs.shape[1] != scale.n_classes:
                raise DataError(
                    f"student targets have {self.probs.shape[1]} classes, the scale {scale.n_classes}"
                )
            return np.asarray(self.probs, dtype=np.float32)
        return np.eye(scale.n_classes, dtype=np.float32)[scale.level_index(self.score)]


def concat_targets(parts: Sequence[StudentTargets], scale: RelevanceScale) -> StudentTargets:
    """Gold and silver targets in one (rows in order); for "levels", rows without probs become one-hot."""
    score = np.concatenate([np.asarray(p.score, np.float64) for p in parts])
    if scale.kind != "levels" or all(p.probs is None for p in parts):
        return StudentTargets(score)
    return StudentTargets(score, np.concatenate([p.distribution(scale) for p in parts]))


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0, out=x)


@dataclass
class Student:
    """A trained student: standardization and layer weights as float32 numpy arrays, and what they mean."""

    scale: RelevanceScale
    feature_names: tuple[str, ...]
    mean: np.ndarray  # (F,)
    std: np.ndarray  # (F,) > 0
    weights: list[np.ndarray]  # per layer (out, in), torch's nn.Linear layout
    biases: list[np.ndarray]  # per layer (out,)
    model_version: str | None = None  # the model whose embeddings its features hold (serving checks it)
    inputs: str | None = None  # digest of its labels, model and settings: `train_students` reuses on a match

    def __post_init__(self) -> None:
        self._transposed = [
            np.ascontiguousarray(w.T) for w in self.weights
        ]  # (in, out): x @ W.T without a copy

    def standardize(self, features: np.ndarray) -> np.ndarray:
        """(n, F) features -> (n, F) float32 network inputs."""
        x = np.asarray(features, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != len(self.feature_names):
            raise DataError(
                f"the student reads {len(self.feature_names)} features, got an array of {x.shape}"
            )
        return (x - self.mean) / self.std

    def logits(self, features: np.ndarray) -> np.ndarray:
        """(n, F) features -> (n, C) float32 outputs of the last layer (numpy: the serving path)."""
        h = self.standardize(features)  # (n, F)
        last = len(self._transposed) - 1
        for i, (w, b) in enumerate(zip(self._transposed, self.biases)):
            h = h @ w + b  # (n, H), then (n, C)
            if i < last:
                h = _relu(h)
        return h

    def predict(self, features: np.ndarray) -> np.ndarray:
        """(n, F) -> (n,) float64 expected label on the scale."""
        z = self.logits(features).astype(np.float64)  # (n, C)
        if self.scale.kind == "levels":
            return self.scale.expected(_softmax(z))
        return self.scale.low + (self.scale.high - self.scale.low) / (1.0 + np.exp(-z[:, 0]))

    def probs(self, features: np.ndarray) -> np.ndarray:
        """(n, F) -> (n, C) float64 distribution over the levels (a "levels" scale only)."""
        if self.scale.kind != "levels":
            raise OmniSageError("a student on a 'mean' scale predicts a score, not level probabilities")
        return _softmax(self.logits(features).astype(np.float64))

    def torch_module(self) -> Any:
        """The same layers as a torch module that reads standardized features (`standardize`)."""
        import torch

        net = _mlp(len(self.feature_names), self.weights[0].shape[0], self.weights[-1].shape[0])
        for layer, w, b in zip(net[::2], self.weights, self.biases):
            layer.weight.data.copy_(torch.from_numpy(w))
            layer.bias.data.copy_(torch.from_numpy(b))
        return net.eval()

    def save(self, folder: str | Path) -> Path:
        """student.safetensors (layers) and student.json (scale, each feature's name and standardization)."""
        from safetensors.numpy import save_file

        folder = Path(folder)
        if folder.exists() and any(folder.iterdir()) and not (folder / MANIFEST).is_file():
            raise OmniSageError(f"{folder} exists and is not a relevance student: refusing to overwrite it")
        tensors = {f"layers.{i}.weight": w for i, w in enumerate(self.weights)}
        tensors.update({f"layers.{i}.bias": b for i, b in enumerate(self.biases)})
        manifest = {
            "format": FORMAT,
            "scale": self.scale.to_json(),
            "features": [
                {"name": name, "mean": float(m), "std": float(s)}
                for name, m, s in zip(self.feature_names, self.mean, self.std)
            ],
        }
        if self.model_version is not None:
            manifest["model_version"] = self.model_version
        if self.inputs is not None:
            manifest["inputs"] = self.inputs
        with atomic_folder(folder) as tmp:
            save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, str(tmp / WEIGHTS))
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
        return folder


def load_student(folder: str | Path) -> Student:
    """The student `Student.save` wrote to `folder`."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    folder = Path(folder)
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        tensors = load_file(str(folder / WEIGHTS))
    except FileNotFoundError as exc:
        raise OmniSageError(f"{folder}: not a relevance student (no {Path(exc.filename).name})") from None
    except (OSError, ValueError, SafetensorError) as exc:
        raise OmniSageError(f"{folder}: unreadable relevance student ({str(exc).splitlines()[0]})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise OmniSageError(f"{folder}: {MANIFEST} is not a relevance student's")
    features = manifest["features"]
    n_layers = len(tensors) // 2
    return Student(
        scale=RelevanceScale.from_json(manifest["scale"], where=f"{folder / MANIFEST}: scale"),
        feature_names=tuple(f["name"] for f in features),
        mean=np.array([f["mean"] for f in features], np.float32),
        std=np.array([f["std"] for f in features], np.float32),
        weights=[tensors[f"layers.{i}.weight"] for i in range(n_layers)],
        biases=[tensors[f"layers.{i}.bias"] for i in range(n_layers)],
        model_version=manifest.get("model_version"),
        inputs=manifest.get("inputs"),
    )


def train_student(
    features: np.ndarray,
    targets: StudentTargets,
    scale: RelevanceScale,
    cfg: RelevanceConfig,
    *,
    feature_names: Sequence[str] | None = None,
    weights: np.ndarray | None = None,
    progress: bool = False,
    log: Callable[[str], object] = print,
) -> Student:
    """Fit a student to (n, F) features: soft cross-entropy against `targets.distribution` ("levels") or MSE
    against `targets.score` ("mean"); `weights` (n,) weighs the pairs (say gold above silver). AdamW at
    `cfg.student_lr` with a cosine decay over `cfg.student_epochs` passes, batches of 512, seeded by `cfg.seed`."""
    import torch

    x = np.asarray(features, dtype=np.float32)  # (n, F)
    n = len(x)
    if x.ndim != 2 or n == 0 or len(targets.score) != n:
        raise DataError(f"the student needs (n, F) features with n >= 1 and n targets; got {x.shape}")
    names = tuple(feature_names) if feature_names is not None else tuple(f"f{i}" for i in range(x.shape[1]))
    if len(names) != x.shape[1]:
        raise DataError(f"{len(names)} feature names for {x.shape[1]} features")
    if not np.isfinite(x).all():
        raise DataError("the student's features hold NaN or infinite values")
    mean, std = _standardization(x)
    torch.manual_seed(cfg.seed)
    net = _mlp(x.shape[1], cfg.student_hidden, max(scale.n_classes, 1))
    if scale.kind == "levels":
        y = torch.from_numpy(targets.distribution(scale))  # (n, C)
    else:
        y = torch.from_numpy(np.asarray(targets.score, dtype=np.float32))  # (n,)
    w = torch.ones(n) if weights is None else torch.from_numpy(np.asarray(weights, dtype=np.float32))  # (n,)
    losses = _fit(
        net, (torch.from_numpy(x), torch.from_numpy(mean), torch.from_numpy(std)), y, w, scale, cfg, progress
    )
    if losses:
        log(f"student: {n} pairs, {x.shape[1]} features, loss {losses[0]:.4f} -> {losses[-1]:.4f}")
    layers = list(net[::2])
    layer_weights = [layer.weight.detach().numpy().copy() for layer in layers]
    return Student(
        scale, names, mean, std, layer_weights, [layer.bias.detach().numpy().copy() for layer in layers]
    )


def _fit(net: Any, inputs: tuple[Any, Any, Any], y: Any, w: Any, scale: RelevanceScale, cfg: RelevanceConfig,
         progress: bool) -> list[float]:  # fmt: skip
    """The training loop; `inputs` = (features (n, F) as the caller's memory, mean, std): standardized per batch,
    so the features are never copied. Returns the mean loss of each epoch."""
    import torch

    features, shift, spread = inputs
    n = len(features)
    generator = torch.Generator().manual_seed(cfg.seed)
    optimizer = torch.optim.AdamW(net.parameters(), lr=cfg.student_lr)
    total_steps = cfg.student_epochs * -(-n // BATCH_SIZE)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, max(1, total_steps))
    epochs = range(cfg.student_epochs)
    if progress:
        from omnisage.progress import tqdm

        epochs = tqdm(epochs, desc="student", unit="epoch", leave=False)
    losses = []
    for _ in epochs:
        total = 0.0
        for idx in torch.randperm(n, generator=generator).split(BATCH_SIZE):
            z = net((features[idx] - shift) / spread)  # (b, C)
            loss = _loss(z, y[idx], w[idx], scale)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            total += float(loss.detach()) * len(idx)
        losses.append(total / n)
    return losses


def _mlp(n_features: int, hidden: int, n_out: int) -> Any:
    import torch.nn as nn

    return nn.Sequential(
        nn.Linear(n_features, hidden),
        nn.ReLU(),
        nn.Linear(hidden, hidden),
        nn.ReLU(),
        nn.Linear(hidden, n_out),
    )


def _loss(z: Any, y: Any, w: Any, scale: RelevanceScale) -> Any:
    """Weighted mean over the batch: soft cross-entropy (z (b, C), y (b, C)) or squared error on the scale."""
    import torch

    if scale.kind == "levels":
        per_pair = -(y * torch.log_softmax(z, dim=1)).sum(dim=1)  # (b,)
    else:
        pred = scale.low + (scale.high - scale.low) * torch.sigmoid(z[:, 0])  # (b,)
        per_pair = (pred - y) ** 2
    return (w * per_pair).sum() / w.sum().clamp(min=1e-12)


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _standardization(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and std of the training features (std 1 for a constant feature)."""
    mean = features.mean(axis=0, dtype=np.float64)
    std = features.std(axis=0, dtype=np.float64)
    return mean.astype(np.float32), np.where(std > 1e-6, std, 1.0).astype(np.float32)
