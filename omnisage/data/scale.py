"""The scale of a source's relevance labels, declared with the data in `world.json` under "relevance_scale".

Two kinds: "levels", a few named grades (the synthetic world's five, ESCI's E/S/C/I mapped to numbers), learned
as classes; "mean", a mean of raters on a continuous range (Home Depot: three raters, 1–3), learned by
regression. Either way a label is a number, and `bins` cut the range into the grades that accuracy counts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from omnisage.errors import DataError

MANIFEST_KEY = "relevance_scale"


@dataclass(frozen=True)
class RelevanceScale:
    kind: Literal["levels", "mean"]
    low: float
    high: float
    levels: tuple[float, ...] = ()  # kind "levels": every allowed value, ascending
    names: tuple[str, ...] = ()  # optional names of the levels ("irrelevant", ..., or E/S/C/I)
    bins: tuple[float, ...] = field(default=())  # kind "mean": ascending thresholds between grades

    def __post_init__(self) -> None:
        if self.kind not in ("levels", "mean"):
            raise DataError(f"relevance_scale.kind must be 'levels' or 'mean', got {self.kind!r}")
        if not (math.isfinite(self.low) and math.isfinite(self.high) and self.low < self.high):
            raise DataError(f"relevance_scale needs finite low < high, got {self.low} and {self.high}")
        if self.kind == "levels":
            if len(self.levels) < 2 or list(self.levels) != sorted(set(self.levels)):
                raise DataError("relevance_scale.levels must be at least two ascending distinct numbers")
            if self.levels[0] != self.low or self.levels[-1] != self.high:
                raise DataError("relevance_scale.levels must start at low and end at high")
            if self.names and len(self.names) != len(self.levels):
                raise DataError("relevance_scale.names must name every level")
        elif list(self.bins) != sorted(set(self.bins)) or any(
            not self.low < b < self.high for b in self.bins
        ):
            raise DataError("relevance_scale.bins must be ascending thresholds strictly inside (low, high)")

    @property
    def n_classes(self) -> int:
        """Classes of a classification head: one per level; 0 for a regression scale."""
        return len(self.levels) if self.kind == "levels" else 0

    @property
    def thresholds(self) -> np.ndarray:
        """Grade boundaries: the midpoints between levels, or the declared bins."""
        if self.kind == "levels":
            lv = np.asarray(self.levels, dtype=np.float64)
            return (lv[:-1] + lv[1:]) / 2
        return np.asarray(self.bins, dtype=np.float64)

    def grade(self, values: Any) -> np.ndarray:
        """The grade (0-based) of each value: the level nearest to it, or its bin."""
        return np.searchsorted(self.thresholds, np.asarray(values, dtype=np.float64), side="right")

    def level_index(self, labels: Any) -> np.ndarray:
        """Class index of each label of a "levels" scale (labels must be levels)."""
        return self.grade(labels)

    def expected(self, probs: np.ndarray) -> np.ndarray:
        """The expected label under class probabilities (rows of a "levels" head)."""
        return np.asarray(probs, dtype=np.float64) @ np.asarray(self.levels, dtype=np.float64)

    def check(self, labels: Any, *, path: str | None = None) -> None:
        """Every label lies on the scale (a declared level, or inside [low, high]); else a located DataError."""
        values = np.asarray(labels, dtype=np.float64)
        if self.kind == "levels":
            bad = ~np.isin(values, np.asarray(self.levels, dtype=np.float64))
            allowed = f"one of {', '.join(f'{v:g}' for v in self.levels)}"
        else:
            bad = ~((values >= self.low) & (values <= self.high))
            allowed = f"a number in [{self.low:g}, {self.high:g}]"
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise DataError(f"label {values[i]:g} is not on the declared scale ({allowed})", path=path,
                            row=i + 1, column="label")  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "low": self.low, "high": self.high}
        if self.levels:
            out["levels"] = list(self.levels)
        if self.names:
            out["names"] = list(self.names)
        if self.bins:
            out["bins"] = list(self.bins)
        return out

    @classmethod
    def from_json(cls, obj: Any, *, where: str = MANIFEST_KEY) -> RelevanceScale:
        if not isinstance(obj, dict):
            raise DataError(f"{where} must be a JSON object")
        unknown = set(obj) - {"kind", "low", "high", "levels", "names", "bins"}
        if unknown:
            raise DataError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
        try:
            levels = tuple(float(v) for v in obj.get("levels", ()))
            kind = obj.get("kind", "levels" if levels else "mean")
            low = float(obj.get("low", levels[0] if levels else "nan"))
            high = float(obj.get("high", levels[-1] if levels else "nan"))
            return cls(kind, low, high, levels, tuple(str(n) for n in obj.get("names", ())),
                       tuple(float(b) for b in obj.get("bins", ())))  # fmt: skip
        except (TypeError, ValueError) as exc:
            raise DataError(f"{where}: {exc}") from None


# The scales of the sources we ship adapters for.
FIVE_LEVELS = RelevanceScale(
    "levels", 1.0, 5.0, (1.0, 2.0, 3.0, 4.0, 5.0),
    ("highly irrelevant", "irrelevant", "marginally relevant", "relevant", "highly relevant"),
)  # fmt: skip
HOMEDEPOT = RelevanceScale("mean", 1.0, 3.0, bins=(1.84, 2.5))  # low < 1.84 <= mid < 2.5 <= high
ESCI = RelevanceScale("levels", 1.0, 3.0, (1.0, 1.5, 2.0, 3.0), ("I", "C", "S", "E"))


def scale_of(manifest: dict[str, Any], *, path: str | None = None) -> RelevanceScale | None:
    """The scale a world's manifest declares, or None."""
    obj = manifest.get(MANIFEST_KEY)
    if obj is None:
        return None
    where = f"{path}: {MANIFEST_KEY}" if path else MANIFEST_KEY
    return RelevanceScale.from_json(obj, where=where)
