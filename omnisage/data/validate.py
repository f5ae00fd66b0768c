"""Loading and validating a whole data directory: every table, then the foreign keys between them.

A data directory holds one file per table (`pins.parquet`, `engagements.csv`, ...) and optionally a
`world.json` manifest declaring vector dimensions. `omnisage validate DIR` runs `validate_world`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from omnisage.data.io import find_table, read_table
from omnisage.errors import DataError
from omnisage.schema import TABLES, TableSpec

MANIFEST = "world.json"
# Tables whose absence is fine even when another table refers to them (queries can be derived from logs).
_OPTIONAL_REFERENCES = {"queries"}


@dataclass
class World:
    """The validated tables of one data directory."""

    directory: Path
    tables: dict[str, pa.Table] = field(default_factory=dict)
    manifest: dict[str, Any] = field(default_factory=dict)
    paths: dict[str, Path] = field(default_factory=dict)

    def __getitem__(self, name: str) -> pa.Table:
        return self.tables[name]

    def get(self, name: str) -> pa.Table | None:
        return self.tables.get(name)

    def counts(self) -> dict[str, int]:
        return {name: t.num_rows for name, t in self.tables.items()}


def read_manifest(directory: str | Path) -> dict[str, Any]:
    path = Path(directory) / MANIFEST
    if not path.is_file():
        return {}
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"invalid JSON ({exc})", path=str(path)) from None
    if not isinstance(manifest, dict):
        raise DataError("expected a JSON object", path=str(path))
    return manifest


def _vector_dim(spec: TableSpec, manifest: dict[str, Any]) -> int | None:
    key = {"legacy_embeddings": "legacy_dim", "image_embeddings": "image_dim"}.get(spec.name)
    value = manifest.get(key) if key else None
    return int(value) if value is not None else None


def load_world(directory: str | Path, tables: list[str] | None = None) -> World:
    """Read and validate the tables of `directory` (all present ones, or those named), foreign keys included."""
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError("not a directory", path=str(directory))
    world = World(directory, manifest=read_manifest(directory))
    for name in tables or list(TABLES):
        path = find_table(directory, name)
        if path is None:
            continue
        spec = TABLES[name]
        world.tables[name] = read_table(path, spec, vector_dim=_vector_dim(spec, world.manifest))
        world.paths[name] = path
    if not ({"pins", "products"} & world.tables.keys()) and tables is None:
        raise DataError(
            "no pins or products table found (expected e.g. pins.parquet or products.csv)",
            path=str(directory),
        )
    _check_foreign_keys(world)
    _check_relevance_scale(world)
    return world


def _check_relevance_scale(world: World) -> None:
    """Relevance labels need a scale declared in world.json, and every label must lie on it."""
    from omnisage.data.scale import MANIFEST_KEY, scale_of

    labels = world.tables.get("relevance_labels")
    if labels is None:
        return
    manifest = str(world.directory / MANIFEST)
    scale = scale_of(world.manifest, path=manifest)
    if scale is None:
        raise DataError(
            f'relevance labels need their scale: declare "{MANIFEST_KEY}" in {manifest} '
            '(e.g. {"kind": "mean", "low": 1, "high": 3} or {"levels": [1, 2, 3, 4, 5]})',
            path=str(world.paths["relevance_labels"]),
        )
    scale.check(labels.column("label").to_numpy(), path=str(world.paths["relevance_labels"]))


def _check_foreign_keys(world: World) -> None:
    for name, table in world.tables.items():
        spec = TABLES[name]
        for fk in spec.foreign_keys:
            col = table.column(fk.column)
            targets = {None: fk.table} if fk.table else fk.by_type
            for kind, ref_name in targets.items():
                mask = pc.equal(table.column(fk.type_column), kind) if kind is not None else None
                if ref_name not in world.tables:
                    if ref_name in _OPTIONAL_REFERENCES:
                        continue
                    if mask is not None and not pc.any(mask).as_py():
                        continue
                    raise DataError(
                        f"rows refer to table '{ref_name}', which is missing from {world.directory}",
                        path=str(world.paths[name]),
                        column=fk.column,
                    )
                ref = world.tables[ref_name]
                missing = pc.invert(pc.is_in(col, ref.column(TABLES[ref_name].key[0])))
                if mask is not None:
                    missing = pc.and_(mask, missing)
                idx = pc.index(pc.fill_null(missing, False), True).as_py()
                if idx >= 0:
                    raise DataError(
                        f"'{col[idx].as_py()}' does not exist in {ref_name} (dangling reference)",
                        path=str(world.paths[name]),
                        row=idx + 1,
                        column=fk.column,
                    )


def validate_world(directory: str | Path) -> dict[str, int]:
    """Validate every table in `directory` and return the row count per table."""
    return load_world(directory).counts()
