"""Silver labels: candidate pairs equal a brute-force top-k that honours the exclusions (chunked or not); the
labelling job's parts equal the teacher's scores, a killed run resumes to the clean run's output with no duplicate
row, shards partition the work, and a rerun with another teacher or input is refused."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from omnisage.config import RelevanceConfig
from omnisage.data.scale import FIVE_LEVELS, HOMEDEPOT
from omnisage.errors import DataError, OmniSageError
from omnisage.relevance import silver as silver_module
from omnisage.relevance.silver import candidate_pairs, label_pairs, read_silver
from omnisage.relevance.teacher import Teacher, load_teacher, train_teacher

from ..tiny_bert import write_tiny_bert

QUIET = {"progress": False, "log": lambda _: None}


@pytest.fixture(autouse=True)
def _single_thread(one_thread):
    """Every test here on one torch thread (tests/conftest.py)."""


def _teacher(folder: Path, scale, labels: list[float], seed: int = 0) -> Path:
    encoder = write_tiny_bert(folder / "bert", seed=seed)
    pairs = pa.table(
        {"query_text": ["a b", "c d", "e f", "g h"], "item_text": ["x", "y", "z", "w"], "label": labels}
    )
    cfg = RelevanceConfig(teacher_encoder=str(encoder), teacher_batch_size=2, teacher_epochs=1.0, seed=seed)
    return train_teacher(pairs, scale, folder / "teacher", cfg, **QUIET)


@pytest.fixture(scope="module")
def levels_teacher(tmp_path_factory) -> Path:
    return _teacher(tmp_path_factory.mktemp("levels"), FIVE_LEVELS, [1.0, 2.0, 4.0, 5.0])


@pytest.fixture(scope="module")
def mean_teacher(tmp_path_factory) -> Path:
    return _teacher(tmp_path_factory.mktemp("mean"), HOMEDEPOT, [1.0, 1.5, 2.5, 3.0], seed=1)


def _pairs(n: int) -> pa.Table:
    rng = np.random.default_rng(0)
    words = ["drill", "lamp", "red", "oak", "hose", "rug", "led", "steel"]
    return pa.table(
        {
            "query_text": [f"q{i % 7} {words[i % 8]}" for i in range(n)],
            "entity_type": ["product" if i % 3 else "pin" for i in range(n)],
            "entity_id": [f"e{i}" for i in range(n)],
            "item_text": [" ".join(rng.choice(words, size=1 + i % 9)) for i in range(n)],
        }
    )


def _brute_force(q, e, k, banned) -> list[tuple[int, int]]:
    out = []
    for i in range(len(q)):
        scored = sorted((-float(q[i] @ e[j]), j) for j in range(len(e)) if (i, j) not in banned)
        out += [(i, j) for _, j in scored[:k]]
    return out


@pytest.mark.parametrize("chunk", [1 << 24, 40])  # one chunk, or one query per chunk
def test_candidate_pairs_equal_a_brute_force_top_k_without_the_excluded(chunk, monkeypatch) -> None:
    monkeypatch.setattr(silver_module, "CHUNK_SCORES", chunk)
    rng = np.random.default_rng(1)
    q, e = rng.normal(size=(6, 5)), rng.normal(size=(30, 5))
    queries, types, ids = [f"q{i}" for i in range(6)], ["pin", "product"] * 15, [f"e{j}" for j in range(30)]
    best_of_q0 = int(np.argmax(e @ q[0]))
    banned = {(0, best_of_q0), (2, 3), (2, 4), (5, 29)}
    exclude = pa.table(
        {
            "query_text": [queries[i] for i, _ in banned] + ["unknown query"],
            "entity_type": [types[j] for _, j in banned] + ["pin"],
            "entity_id": [ids[j] for _, j in banned] + ["e0"],
        }
    )
    got = candidate_pairs(queries, q, types, ids, e, 4, exclude=exclude)
    want = _brute_force(q.astype(np.float32), e.astype(np.float32), 4, banned)
    assert got.column_names == ["query_text", "entity_type", "entity_id", "first_stage"]
    assert list(zip(got["query_text"].to_pylist(), got["entity_id"].to_pylist(), strict=True)) == [
        (queries[i], ids[j]) for i, j in want
    ]
    assert got["entity_type"].to_pylist() == [types[j] for _, j in want]
    np.testing.assert_allclose(got["first_stage"].to_numpy(), [q[i] @ e[j] for i, j in want], rtol=1e-5)
    as_set = candidate_pairs(
        queries, q, types, ids, e, 4, exclude={(queries[i], types[j], ids[j]) for i, j in banned}
    )
    assert as_set.equals(got)


def test_candidate_pairs_with_k_beyond_the_catalog_take_every_allowed_entity() -> None:
    rng = np.random.default_rng(2)
    q, e = rng.normal(size=(3, 4)), rng.normal(size=(5, 4))
    got = candidate_pairs(["a", "b", "c"], q, ["pin"] * 5, list("vwxyz"), e, 99, exclude=[("b", "pin", "x")])
    assert got.num_rows == 14 and ("b", "x") not in zip(
        got["query_text"].to_pylist(), got["entity_id"].to_pylist()
    )


def test_candidate_pairs_refuse_bad_input() -> None:
    v = np.ones((2, 3))
    with pytest.raises(DataError, match="query text appears twice"):
        candidate_pairs(["a", "a"], v, ["pin"] * 2, ["x", "y"], v, 1)
    with pytest.raises(DataError, match="do not match"):
        candidate_pairs(["a", "b"], v, ["pin"] * 2, ["x", "y"], np.ones((2, 4)), 1)
    with pytest.raises(OmniSageError, match="k must be"):
        candidate_pairs(["a", "b"], v, ["pin"] * 2, ["x", "y"], v, 0)


def test_labels_are_the_teachers_scores(levels_teacher, mean_teacher, tmp_path) -> None:
    pairs = _pairs(23)
    for path, probs_width in ((levels_teacher, 5), (mean_teacher, None)):
        teacher = load_teacher(path)
        teacher.amp = None  # fp32: scores of parts and of the whole then differ by float rounding only
        out = label_pairs(teacher, pairs, tmp_path / path.parent.name, part_rows=10, **QUIET)
        silver = read_silver(out)
        assert sorted(p.name for p in out.glob("part-*")) == [
            "part-00000.parquet",
            "part-00001.parquet",
            "part-00002.parquet",
        ]
        for column in ("query_text", "entity_type", "entity_id"):
            assert silver[column].to_pylist() == pairs[column].to_pylist()
        direct = teacher.predict(pairs["query_text"].to_pylist(), pairs["item_text"].to_pylist())
        np.testing.assert_allclose(silver["score"].to_numpy(), direct.score, atol=1e-5)
        if probs_width is None:
            assert silver["probs"].null_count == 23
        else:
            probs = np.array(silver["probs"].to_pylist(), dtype=np.float32)
            np.testing.assert_allclose(probs, direct.probs, atol=1e-5)
        manifest = json.loads((out / "silver.json").read_text())
        assert manifest["teacher"] == teacher.version and manifest["rows"] == 23


def test_a_killed_labelling_resumes_to_the_clean_output_without_duplicates(
    levels_teacher, tmp_path, monkeypatch
):
    pairs = _pairs(47)
    clean = read_silver(label_pairs(levels_teacher, pairs, tmp_path / "clean", part_rows=10, **QUIET))
    teacher = load_teacher(levels_teacher)
    real, calls, kill_at = Teacher.predict, [], [3]

    def dies_on_third_part(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == kill_at[0]:
            raise KeyboardInterrupt  # a kill while the third part is scored
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Teacher, "predict", dies_on_third_part)
    with pytest.raises(KeyboardInterrupt):
        label_pairs(teacher, pairs, tmp_path / "cut", part_rows=10, **QUIET)
    assert sorted(p.name for p in (tmp_path / "cut").glob("part-*")) == [
        "part-00000.parquet",
        "part-00001.parquet",
    ]
    with pytest.raises(OmniSageError, match="3 of 5 parts missing"):
        read_silver(tmp_path / "cut")
    calls.clear()
    kill_at[0] = 0
    logs: list[str] = []
    label_pairs(teacher, pairs, tmp_path / "cut", part_rows=10, progress=False, log=logs.append)
    assert len(calls) == 3 and "(2 done before)" in logs[0]  # only the three missing parts were scored
    resumed = read_silver(tmp_path / "cut")
    assert resumed.equals(clean)
    keys = list(
        zip(*(resumed[c].to_pylist() for c in ("query_text", "entity_type", "entity_id")), strict=True)
    )
    assert len(set(keys)) == len(keys) == 47


def test_shards_partition_the_parts(levels_teacher, tmp_path) -> None:
    pairs = _pairs(35)
    whole = read_silver(label_pairs(levels_teacher, pairs, tmp_path / "whole", part_rows=8, **QUIET))
    label_pairs(levels_teacher, pairs, tmp_path / "sharded", part_rows=8, shard=(1, 2), **QUIET)
    assert sorted(p.name for p in (tmp_path / "sharded").glob("part-*")) == [
        "part-00001.parquet",
        "part-00003.parquet",
    ]
    label_pairs(levels_teacher, pairs, tmp_path / "sharded", part_rows=8, shard=(0, 2), **QUIET)
    assert read_silver(tmp_path / "sharded").equals(whole)


def test_another_teacher_or_input_is_refused(levels_teacher, mean_teacher, tmp_path) -> None:
    pairs = _pairs(12)
    out = label_pairs(levels_teacher, pairs, tmp_path / "s", part_rows=5, **QUIET)
    with pytest.raises(OmniSageError, match=r"another teacher or input \(teacher"):
        label_pairs(mean_teacher, pairs, out, part_rows=5, **QUIET)
    changed = pairs.set_column(3, "item_text", pa.array(["other"] * 12))
    with pytest.raises(OmniSageError, match=r"another teacher or input \(input"):
        label_pairs(levels_teacher, changed, out, part_rows=5, **QUIET)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "x.txt").write_text("x")
    with pytest.raises(OmniSageError, match="not a silver-label folder"):
        label_pairs(levels_teacher, pairs, tmp_path / "data", **QUIET)
    with pytest.raises(DataError, match="item_text"):
        label_pairs(levels_teacher, pairs.drop_columns(["item_text"]), tmp_path / "t", **QUIET)


def test_an_empty_input_gives_an_empty_table(levels_teacher, tmp_path) -> None:
    out = label_pairs(levels_teacher, _pairs(0), tmp_path / "s", **QUIET)
    assert read_silver(out).num_rows == 0 and read_silver(out).schema == silver_module.SILVER
