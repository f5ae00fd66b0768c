"""The ablation runner with a fake trainer: variants get their overrides, tables come out, reruns resume."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from omnisage.config import Config, load_config
from omnisage.data.io import write_table
from omnisage.errors import OmniSageError
from omnisage.eval.ablations import _training_lock, rank_variants, run_ablate, train_variants
from omnisage.train.batches import allocate

WORDS = ["red", "blue", "green", "black", "white", "sofa", "lamp", "chair", "rug", "things"]


class FieldKeywordModel:
    """Keyword one-hot over the text fields its config selects: feature switches change recall by hand."""

    def __init__(self, fields: tuple[str, ...], legacy_dim: int = 8):
        self.fields = fields
        self.config = type("Cfg", (), {"legacy_dim": legacy_dim})()

    def _encode(self, texts: list[str]) -> np.ndarray:
        out = np.array([[float(w in t.split()) for w in WORDS] for t in texts], np.float32)
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts)

    def encode_entities(self, rows: pa.Table) -> np.ndarray:
        texts = []
        for row in rows.to_pylist():
            parts = [row[f] for f in self.fields if isinstance(row.get(f), str)]
            parts += [x for f in self.fields if isinstance(row.get(f), list) for x in row[f]]
            texts.append(" ".join(parts))
        return self._encode(texts)


def _fake_trainer(calls: list[str]):
    def train(data: Path, out: Path, config: Config, entities: Path | None) -> None:
        calls.append(out.name)
        (out / "model").mkdir(parents=True, exist_ok=True)
        (out / "model" / "fields.json").write_text(json.dumps(list(config.model.text_fields)))
        (out / "metrics.jsonl").write_text(json.dumps({"step": 1, "loss": 1.0, "tasks": {"pin": 0.5}}) + "\n")
        (out / "train_summary.json").write_text("{}")

    return train


def _fake_loader(path: Path) -> FieldKeywordModel:
    return FieldKeywordModel(tuple(json.loads((path / "fields.json").read_text())))


def test_ablate_builds_every_table_and_resumes(toy_world, tmp_path: Path) -> None:
    data, entities = toy_world
    write_table(entities, data / "enriched_entities.parquet")
    out = tmp_path / "ablate"
    calls: list[str] = []
    kwargs = dict(trainer=_fake_trainer(calls), loader=_fake_loader, log=lambda _: None)
    overrides = ["eval.bootstrap=20", "eval.baselines=bm25"]
    report = run_ablate(data, out, "tiny", overrides, **kwargs)
    assert sorted(calls) == sorted(
        ["searchsage", "full", "no_captions", "text", "continuous", "boards", "pin_only", "product_only",
         "query_only", "pin_only_share", "product_only_share", "query_only_share", "no_compat"]
    )  # fmt: skip
    assert json.loads((out / "variants" / "text" / "model" / "fields.json").read_text()) == [
        "title", "description", "brand", "color", "caption"
    ]  # fmt: skip
    # Single-task variants train with the full model's batch, and with their task's share of it.
    tiny = load_config("tiny", overrides)
    shares = allocate(tiny.train.batch_size, tiny.train.mix)

    def pinned(name: str) -> dict:
        return json.loads((out / "variants" / name / "variant.json").read_text())["config"]["train"]

    for task, datasets in (("pin", ["pin"]), ("product", ["product_onsite", "product_offsite"])):
        assert pinned(f"{task}_only")["batch_size"] == tiny.train.batch_size
        assert pinned(f"{task}_only_share")["batch_size"] == sum(shares[d] for d in datasets)
        assert pinned(f"{task}_only_share")["mix"] == pinned(f"{task}_only")["mix"]
    assert pinned("query_only_share")["batch_size"] == shares["query"] < tiny.train.batch_size
    # Table 3: untitled pins are found only through their captions.
    t3 = {r["variant"]: r["recall"]["save"] for r in report["tables"]["3"]}
    assert t3 == {"no_captions": 0.0, "text": 1.0}
    # Table 4: no text at all ties every pin (rank = corpus size); captions find every pin next to its twin.
    t4 = {r["variant"]: r["recall"]["all pin pairs"] for r in report["tables"]["4"]}
    assert t4["continuous"] == 0.0 and t4["text"] == 1.0
    claims = {c["claim"]: c["passed"] for c in report["checks"]}
    claim = "each Table 4 enrichment adds recall, every step's interval above 0 (pin save)"
    assert claims[claim] is False  # boards add nothing here: a step of +0.000 (+0.000…+0.000)
    detail = {c["claim"]: c["detail"] for c in report["checks"]}[claim]
    assert detail.startswith("0.000 → 1.000 → 1.000 → ") and detail.count("…") == 3  # each step's interval
    assert "+1.000 (+1.000…+1.000)" in detail  # captions find every pin in every resample
    markdown = (out / "ablations.md").read_text()
    for title in ("Table 2", "Table 3", "Table 4", "Table 5", "Table 6", "Acceptance checks"):
        assert title in markdown
    # New vs repeat pairs: every toy pin pair was engaged before the cutoff, so Table 4 shows only repeats;
    # the one related-query pair is new.
    assert set(report["tables"]["4"][1]["recall"]) == {"all pin pairs", "save", "pair=repeat"}
    assert report["tables"]["4"][1]["recall"]["pair=repeat"] == t4["text"]
    assert "| query → query | pair=new | 1 |" in markdown
    assert (out / "training_curves.png").is_file()

    calls.clear()
    again = run_ablate(data, out, "tiny", overrides, **kwargs)  # everything is reused
    assert calls == [] and again["tables"]["4"] == report["tables"]["4"]
    with pytest.raises(OmniSageError, match="was trained with other settings"):
        run_ablate(data, out, "tiny", [*overrides, "train.steps=7"], **kwargs)


def test_train_only_trains_the_named_variants_and_a_plain_run_reuses_them(toy_world, tmp_path: Path) -> None:
    data, entities = toy_world
    write_table(entities, data / "enriched_entities.parquet")
    out, calls = tmp_path / "ablate", []
    overrides = ["eval.bootstrap=20", "eval.baselines=bm25"]
    bundles = train_variants(data, out, "tiny", overrides, names=["text", "no_captions", "text"],
                             trainer=_fake_trainer(calls), log=lambda _: None)  # fmt: skip
    assert calls == ["text", "no_captions"] and bundles == [out / "variants" / n / "model" for n in calls]
    assert not (out / "ablations.md").exists()  # training only: no ranking, no report
    calls.clear()
    report = run_ablate(data, out, "tiny", overrides, tables=["3"], trainer=_fake_trainer(calls),
                        loader=_fake_loader, log=lambda _: None)  # fmt: skip
    assert calls == [] and {r["variant"] for r in report["tables"]["3"]} == {"no_captions", "text"}
    with pytest.raises(OmniSageError, match="unknown variant"):
        train_variants(data, out, "tiny", names=["fulll"], trainer=_fake_trainer(calls))
    # A variant another process is training is skipped; the rest still train.
    (out / "variants" / "boards").mkdir(parents=True)
    logged: list[str] = []
    with _training_lock(out / "variants" / "boards"):
        bundles = train_variants(data, out, "tiny", overrides, names=["boards", "continuous"],
                                 trainer=_fake_trainer(calls), log=logged.append)  # fmt: skip
    assert calls == ["continuous"] and bundles == [out / "variants" / "continuous" / "model"]
    assert any("skipping variant 'boards'" in line for line in logged)


def test_rank_variants_ranks_the_named_variants_and_reuses_their_ranks(toy_world, tmp_path: Path) -> None:
    data, entities = toy_world
    write_table(entities, data / "enriched_entities.parquet")
    out, calls = tmp_path / "ablate", []
    overrides = ["eval.bootstrap=20"]
    kwargs = dict(trainer=_fake_trainer(calls), loader=_fake_loader, log=lambda _: None)
    table, _, sets, _ = rank_variants(data, out, "tiny", overrides, names=["no_captions", "text"], **kwargs)
    assert calls == ["no_captions", "text"] and set(sets) >= {"pin"}
    ranks = [c for c in table.column_names if c.startswith("rank:")]
    assert ranks == ["rank:no_captions", "rank:text"]  # no baselines unless asked
    assert not (out / "ranks.parquet").exists()  # a subset never stands in for the full report's ranks
    assert (out / "variants" / "text" / "ranks.parquet").is_file()
    calls.clear()
    again, _, _, _ = rank_variants(data, out, "tiny", overrides, names=["text"], **kwargs)
    assert calls == [] and again.column("rank:text").equals(table.column("rank:text"))
    with pytest.raises(OmniSageError, match="unknown variant"):
        rank_variants(data, out, "tiny", overrides, names=["txt"], **kwargs)


def test_a_variant_in_training_is_locked_against_a_second_trainer(tmp_path: Path) -> None:
    held = _training_lock(tmp_path)
    held.__enter__()
    with pytest.raises(OmniSageError, match="being trained by another process"), _training_lock(tmp_path):
        pass
    held.__exit__(None, None, None)
    with _training_lock(tmp_path):  # released on exit
        pass


def test_a_step_inside_the_noise_does_not_count_as_adding_recall():
    """One more hit in 200 pairs is a positive step whose paired interval still holds zero: its lower bound
    is not above 0, so the Table 4 check would not pass on it; a step of 60 more hits is clear."""
    import numpy as np

    from omnisage.config import EvalConfig
    from omnisage.eval.ablation_tables import _step_intervals

    rng = np.random.default_rng(0)
    base = rng.random(200) < 0.3
    small, large = base.copy(), base.copy()
    small[np.flatnonzero(~base)[:1]] = True
    large[np.flatnonzero(~base)[:60]] = True
    hits = np.stack([base, small, large], 1).astype(np.float64)  # (N, 3)
    text, lows = _step_intervals(hits, EvalConfig(bootstrap=500))
    assert text.startswith("+0.005 (")
    assert lows[0] <= 0 < lows[1]
