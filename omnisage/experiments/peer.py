"""The sentence-transformers peer of `omnisage bench`: what a user of that library builds from the same data.

The benchmark's starting encoder (`bench.legacy_encoder`, all-MiniLM-L6-v2 by default) fine-tuned by
sentence-transformers' own trainer with MultipleNegativesRankingLoss (in-batch softmax) on the product pairs our
model trains on, one epoch; then ranked like every other system (both sides encoded, unit vectors, dot product).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from omnisage.atomic import atomic_folder, write_text
from omnisage.config import Config
from omnisage.errors import MissingExtraError, OmniSageError
from omnisage.eval.systems import EmbeddingSystem
from omnisage.experiments.harness import Log, Trained, fingerprint, train_variant
from omnisage.experiments.variants import BENCH_BASELINES, PEER, Variant
from omnisage.model.features import item_texts
from omnisage.train.pairs import DATASETS, pairs_for_config


@dataclass(frozen=True)
class PeerRecipe:
    """sentence-transformers' documented recipe for this loss: its Training Overview's arguments (lr 2e-5, 10%
    warmup, one epoch, `BatchSamplers.NO_DUPLICATES` because "losses that use in-batch negatives benefit from no
    duplicates") with the batch of its MS MARCO MultipleNegativesRankingLoss example (64; the loss's docs: a
    larger batch gives more in-batch negatives, which helps up to a point). Everything else is the library's
    default: MNRL scale 20 (temperature 0.05) on cosine similarity, AdamW, linear decay, fp32 on a CPU."""

    batch_size: int = 64
    learning_rate: float = 2e-5
    warmup: float = 0.1  # share of the steps
    epochs: int = 1


RECIPE = PeerRecipe()
PEER_TASK = "product (MultipleNegativesRankingLoss, sentence-transformers)"


def _library() -> Any:
    """The sentence_transformers module; it and `datasets` (its trainer's input) come with omnisage[bench]."""
    try:
        import datasets  # noqa: F401
        import sentence_transformers
    except ImportError:
        raise MissingExtraError("sentence-transformers", "bench") from None
    return sentence_transformers


def peer_pairs(engagements: pa.Table, entities: pa.Table, config: Config) -> tuple[list[str], list[str]]:
    """(queries, product texts): the product pairs of our model's training (`pairs_for_config`: the same window,
    cap and seed), each product as the text of its legacy vector (`bench.legacy_fields`); a pair whose product
    the entity table lacks is left out, as training leaves it out."""
    tables = pairs_for_config(engagements, config.train, config.eval)
    pairs = [t for name, t in tables.items() if DATASETS[name][0] == "product"]
    if not pairs:
        return [], []
    table = pa.concat_tables(pairs)
    products = entities.filter(pc.equal(entities.column("entity_type"), "product"))
    ids = products.column("entity_id").to_pylist()
    texts = dict(zip(ids, item_texts(products, config.bench.legacy_fields)))
    queries, engaged = table.column("query_text").to_pylist(), table.column("entity_id").to_pylist()
    kept = [(q, texts[p]) for q, p in zip(queries, engaged) if p in texts]
    return [q for q, _ in kept], [t for _, t in kept]


def _fit(
    queries: list[str], texts: list[str], folder: Path, config: Config, progress: bool
) -> dict[str, Any]:
    """Fine-tune with the library's trainer into FOLDER/model; returns the summary the report reads."""
    from omnisage.model.query_encoder import _quiet_transformers, encoder_folder
    from omnisage.train.run import MODEL_DIR

    st = _library()
    from datasets import Dataset
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    from sentence_transformers.sentence_transformer.training_args import BatchSamplers

    with _quiet_transformers():  # a bare Hugging Face folder gets mean pooling, as the zero-shot baseline
        model = st.SentenceTransformer(
            str(encoder_folder(config.bench.legacy_encoder)), local_files_only=True
        )
    model.max_seq_length = config.bench.legacy_max_tokens  # the product text's limit everywhere in the bench
    scratch = Path(tempfile.mkdtemp(prefix=".trainer-", dir=folder))
    args = st.SentenceTransformerTrainingArguments(
        output_dir=str(scratch),  # nothing is kept there: no checkpoints (minutes of training), no logs
        num_train_epochs=RECIPE.epochs,
        per_device_train_batch_size=RECIPE.batch_size,
        learning_rate=RECIPE.learning_rate,
        warmup_steps=RECIPE.warmup,
        batch_sampler=BatchSamplers.NO_DUPLICATES,
        seed=config.train.seed,
        save_strategy="no",
        logging_steps=50,  # the loss in the log every 50 steps: an epoch takes many minutes on a CPU
        report_to="none",
        disable_tqdm=not progress,
    )
    trainer = st.SentenceTransformerTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_dict({"anchor": queries, "positive": texts}),
        loss=MultipleNegativesRankingLoss(model),
    )
    try:
        result = trainer.train()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    with atomic_folder(folder / MODEL_DIR) as tmp, _quiet_transformers():
        model.save_pretrained(str(tmp), create_model_card=False)
    return {
        "steps": result.global_step,
        "epochs": RECIPE.epochs,
        "pairs": len(queries),
        "tasks": [PEER_TASK],
        "notes": [f"sentence-transformers {st.__version__}, train loss {result.training_loss:.4f}"],
        "recipe": dataclasses.asdict(RECIPE),
    }


def train_peer(
    world: Path, enriched: Path, folder: Path, config: Config, *, progress: bool, log: Log
) -> Trained:
    """Train (or reuse) the peer into FOLDER through the harness: a lock, and a settings pin holding the
    recipe, the starting encoder and a fingerprint of the training pairs (so another split never reuses it)."""
    from omnisage.train.run import SUMMARY

    _library()  # a missing extra stops the run before anything trains
    queries, texts = peer_pairs(pq.read_table(world / "engagements.parquet"), pq.read_table(enriched), config)
    if not queries:
        raise OmniSageError(f"baseline {PEER}: no product pairs in the training window to fine-tune on")
    bench = config.bench
    settings = {
        "baseline": PEER,
        "recipe": dataclasses.asdict(RECIPE),
        "encoder": bench.legacy_encoder,
        "max_tokens": bench.legacy_max_tokens,
        "seed": config.train.seed,
        "pairs": fingerprint([queries, texts]),
    }

    def train(_: Variant, out: Path, cfg: Config) -> None:
        write_text(out / SUMMARY, json.dumps(_fit(queries, texts, out, cfg, progress), indent=1) + "\n")

    return train_variant(Variant(PEER, (), (), BENCH_BASELINES[PEER]), folder, config, settings, train, log)


def peer_system(
    bundle: Path, fields: Sequence[str], name: str = PEER, batch_size: int = 128
) -> EmbeddingSystem:
    """The trained peer on both sides: queries as typed, products as `fields`' text; unit vectors."""
    from omnisage.model.query_encoder import _quiet_transformers

    st = _library()
    with _quiet_transformers():
        model = st.SentenceTransformer(str(bundle), local_files_only=True)

    def encode(texts: list[str]) -> np.ndarray:
        return model.encode(
            list(texts), batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False
        )

    def encode_products(rows: pa.Table) -> np.ndarray:
        return encode(item_texts(rows, fields))

    return EmbeddingSystem(name, encode, encode_products, batch_size=4096)
