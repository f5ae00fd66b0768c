"""The saved model: one self-contained directory that batch inference and serving load.

    manifest.json         format and its version, version hash, sha256 of every file
    config.json           the ModelConfig (read back as a preset is: an unknown setting is an error)
    weights.safetensors   entity encoder + query projection + lexical channel
    vocab/                the n-gram vocabularies
    query_encoder/        the Hugging Face encoder and tokenizer (save_pretrained)

Written into a temporary sibling directory and renamed into place, so a reader never sees half a bundle.
A bundle of another format version is refused: retrain rather than guess what an old one meant.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from omnisage.atomic import atomic_folder
from omnisage.config import ModelConfig, config_to_dict
from omnisage.config_parsing import build
from omnisage.errors import OmniSageError, OutputError
from omnisage.model.entity_encoder import EntityEncoder
from omnisage.model.lexical import LexicalChannel
from omnisage.model.omnisage_model import OmniSageModel
from omnisage.model.query_encoder import QueryEncoder, load_backbone
from omnisage.text.vocab import Vocabulary

__all__ = ["OmniSageModel", "load_model", "save_model"]

FORMAT = "omnisage-model"
FORMAT_VERSION = 3  # 3: model.scratch in config.json without intermediate / positions (constants now)
MANIFEST, CONFIG, WEIGHTS, VOCAB, QUERY_ENCODER = (
    "manifest.json",
    "config.json",
    "weights.safetensors",
    "vocab",
    "query_encoder",
)


def save_model(directory: str | Path, model: OmniSageModel) -> str:
    """Write `model` as a bundle at `directory` (replacing an older bundle there); returns its version hash."""
    directory = Path(directory)
    if directory.exists() and any(directory.iterdir()) and not (directory / MANIFEST).is_file():
        raise OmniSageError(f"{directory} exists and is not a model bundle: refusing to overwrite it")
    try:
        with atomic_folder(directory) as tmp:
            version = _write_bundle(tmp, model)
    except SafetensorError as exc:  # how safetensors (the weights, the backbone) reports a full disk
        raise OutputError(directory, exc) from None
    model.version = version
    return version


def _write_bundle(tmp: Path, model: OmniSageModel) -> str:
    """Every file of the bundle into the folder `tmp`, the manifest last; returns the version hash."""
    _write_json(tmp / CONFIG, config_to_dict(model.config))
    weights = {f"entity_encoder.{k}": v for k, v in model.entity_encoder.state_dict().items()}
    weights.update(
        {f"query_projection.{k}": v for k, v in model.query_encoder.projection.state_dict().items()}
    )
    if model.lexical is not None:
        weights.update({f"query_lexical.{k}": v for k, v in model.lexical.state_dict().items()})
    save_file({k: v.detach().cpu().contiguous() for k, v in weights.items()}, tmp / WEIGHTS)
    model.vocab.save(tmp / VOCAB)
    model.query_encoder.save_backbone(tmp / QUERY_ENCODER)
    files = {p.relative_to(tmp).as_posix(): _sha256(p) for p in sorted(tmp.rglob("*")) if p.is_file()}
    version = hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()[:16]
    manifest = {"format": FORMAT, "format_version": FORMAT_VERSION, "version": version, "files": files}
    _write_json(tmp / MANIFEST, manifest)
    return version


def _manifest(directory: Path) -> dict[str, Any]:
    manifest = _read_json(directory / MANIFEST, directory)
    if manifest.get("format") != FORMAT:
        raise OmniSageError(f"{directory}: not an omnisage model bundle (format {manifest.get('format')!r})")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise OmniSageError(
            f"{directory}: bundle format version {manifest.get('format_version')}, this omnisage reads "
            f"version {FORMAT_VERSION}: train the model again"
        )
    return manifest


def bundle_version(directory: str | Path) -> str:
    """The version hash of the bundle at `directory`, read from its manifest alone (no weights loaded)."""
    return _manifest(Path(directory))["version"]


def load_model(directory: str | Path, verify: bool = True) -> OmniSageModel:
    """The bundle at `directory`, in eval mode on CPU. `verify` checks every file against its sha256."""
    directory = Path(directory)
    manifest = _manifest(directory)
    if verify:
        for name, digest in manifest["files"].items():
            path = directory / name
            if not path.is_file() or _sha256(path) != digest:
                raise OmniSageError(f"{directory}: {name} is missing or changed since the bundle was saved")
    config = _model_config(_read_json(directory / CONFIG, directory), directory)
    vocab = Vocabulary.load(directory / VOCAB)
    backbone, tokenizer = load_backbone(directory / QUERY_ENCODER)
    query_encoder = QueryEncoder(
        backbone, tokenizer, config.dim, config.max_query_tokens, config.query_pooling
    )
    entity_encoder = EntityEncoder(len(vocab), config)
    lexical = LexicalChannel(config) if config.query_lexical else None
    weights = load_file(directory / WEIGHTS)
    try:
        entity_encoder.load_state_dict(_strip(weights, "entity_encoder."))
        query_encoder.projection.load_state_dict(_strip(weights, "query_projection."))
        if lexical is not None:
            lexical.load_state_dict(_strip(weights, "query_lexical."))
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise OmniSageError(f"{directory}: weights do not match config.json ({first})") from None
    model = OmniSageModel(
        config, vocab, query_encoder, entity_encoder, version=manifest["version"], lexical=lexical
    )
    return model.eval()


def _model_config(values: dict[str, Any], directory: Path) -> ModelConfig:
    """config.json as a ModelConfig, read the way a preset is (unknown settings are an error)."""
    try:
        return build(ModelConfig, values, "model.")
    except OmniSageError as exc:
        raise OmniSageError(f"{directory}: config.json: {exc}") from None


def _strip(weights: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix) :]: v for k, v in weights.items() if k.startswith(prefix)}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _read_json(path: Path, directory: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise OmniSageError(f"{directory}: not an omnisage model bundle (no {path.name})") from None
    except (OSError, ValueError) as exc:
        raise OmniSageError(f"{directory}: unreadable {path.name} ({exc})") from None
