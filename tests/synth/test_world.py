"""The synthetic world: determinism, schema conformance, coverage shares, and oracle checks against the ground
truth it writes (every engagement matches its query's interest; legacy embeddings carry lossy interest;
captions are on topic as often as declared), plus a check that each text signal adds lexical recall."""

from __future__ import annotations

import collections
import itertools
import json
import math
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from omnisage.config import SynthConfig
from omnisage.data.validate import validate_world
from omnisage.errors import OmniSageError
from omnisage.schema import TABLES
from omnisage.synth.lexicon import LANGUAGES, load_lexicon
from omnisage.synth.world import format_summary, generate_world
from omnisage.text.normalize import normalize

TABLE_FILES = [f"{name}.parquet" for name in TABLES]


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("world")
    return out, generate_world(SynthConfig(pins=1500, seed=11), out)


def _read(d: Path, name: str) -> pa.Table:
    return pq.read_table(d / f"{name}.parquet")


def _vectors(d: Path, name: str, kind: str, ids: list[str]) -> np.ndarray:
    t = _read(d, name)
    t = t.filter(pc.equal(t["entity_type"], kind))
    row = {e: i for i, e in enumerate(t["entity_id"].to_pylist())}
    flat = t["vector"].combine_chunks().flatten().to_numpy()
    return flat.reshape(t.num_rows, -1)[[row[e] for e in ids]]


def test_same_seed_gives_byte_identical_files_and_another_seed_does_not(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    generate_world(SynthConfig(pins=300, seed=5), a, chunk_rows=1000)
    generate_world(SynthConfig(pins=300, seed=5), b, chunk_rows=1000)
    generate_world(SynthConfig(pins=300, seed=6), c, chunk_rows=1000)
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert len(files) == len(TABLE_FILES) + 5  # tables, world.json, four truth tables
    for f in files:
        assert (a / f).read_bytes() == (b / f).read_bytes(), f
    assert (a / "pins.parquet").read_bytes() != (c / "pins.parquet").read_bytes()


def test_tables_follow_the_data_contracts(world):
    d, summary = world
    counts = validate_world(d)
    assert counts == {name: summary["counts"][name] for name in TABLES}
    for name, spec in TABLES.items():
        schema = pq.read_schema(d / f"{name}.parquet")
        assert schema.names == spec.names, name
        for column in spec.columns:
            kind = schema.field(column.name).type
            if column.name == spec.vector_column:
                dim = 256 if name == "legacy_embeddings" else SynthConfig().image_dim
                assert kind == pa.list_(pa.float32(), dim)
            else:
                assert kind == column.type, (name, column.name)
    manifest = json.loads((d / "world.json").read_text())
    assert manifest["summary"] == summary and manifest["seed"] == 11 and manifest["legacy_dim"] == 256
    assert manifest["log_end"].startswith("2024-07-01") and manifest["languages"] == list(LANGUAGES)


def test_coverage_shares_match_the_paper_and_the_summary(world):
    d, summary = world
    pins, products = _read(d, "pins"), _read(d, "products")
    has_text = pc.or_(pc.is_valid(pins["title"]), pc.is_valid(pins["description"]))
    no_text = 1 - pc.mean(has_text.cast(pa.int8())).as_py()
    assert no_text == pytest.approx(0.30, abs=0.04)
    saves = _read(d, "board_saves")
    in_board = len(set(saves["pin_id"].to_pylist())) / pins.num_rows
    assert in_board == pytest.approx(0.91, abs=0.04) and summary["coverage"]["pins_in_boards"] == round(
        in_board, 4
    )
    eng = _read(d, "engagements")
    engaged = len(
        set(zip(eng["entity_type"].to_pylist(), eng["entity_id"].to_pylist()))
        - {("query", q) for q in eng["entity_id"].to_pylist()}
    )
    items = pins.num_rows + products.num_rows
    share = engaged / items
    assert share == pytest.approx(0.65, abs=0.08)
    assert summary["coverage"]["items_with_engaged_queries"] == round(share, 4)
    for table, what in ((pins, "pins"), (products, "products"), (_read(d, "queries"), "queries")):
        langs = collections.Counter(table["lang"].to_pylist())
        assert set(langs) == set(LANGUAGES), what
        assert langs.most_common(1)[0][0] == "en", what
        assert summary["languages"][what] == {lang: langs[lang] for lang in LANGUAGES}
    text = format_summary(summary)
    assert "pins_with_engaged_queries" in text and "queries per language: en" in text


def test_captions_are_on_topic_as_declared(world):
    d, _ = world
    lx = load_lexicon()
    words = {leaf.id: leaf.words["en"] for leaf in lx.leaves}
    truth = pq.read_table(d / "truth" / "entity_interests.parquet")
    captions = _read(d, "pins")["caption"].to_pylist() + _read(d, "products")["caption"].to_pylist()
    on_topic = truth["caption_on_topic"].to_pylist()
    mentions = [any(w in c for w in words[leaf]) for c, leaf in zip(captions, truth["leaf_id"].to_pylist())]
    assert np.mean(on_topic) == pytest.approx(0.88, abs=0.03)
    assert all(m for m, ok in zip(mentions, on_topic) if ok)  # on-topic captions name the item's leaf
    assert np.mean([m for m, ok in zip(mentions, on_topic) if not ok]) < 0.1


def test_every_engagement_matches_its_query_interest(world):
    d, _ = world
    qt = pq.read_table(d / "truth" / "query_interests.parquet").to_pylist()
    query = {r["query_text"]: r for r in qt}
    entity = {
        (r["entity_type"], r["entity_id"]): r
        for r in pq.read_table(d / "truth" / "entity_interests.parquet").to_pylist()
    }
    sub_of = {leaf.id: f"{leaf.id.rsplit('/', 1)[0]}" for leaf in load_lexicon().leaves}
    eng = _read(d, "engagements").to_pylist()
    for row in eng:
        q = query[row["query_text"]]
        if row["entity_type"] == "query":
            other = query[row["entity_id"]]
            assert other["sub_id"] == q["sub_id"] and row["entity_id"] != row["query_text"]
            continue
        e = entity[(row["entity_type"], row["entity_id"])]
        assert row["ts"] > e["created_ts"]
        leaves = {e["leaf_id"], e["secondary_leaf_id"]} - {None}
        if q["level"] == "leaf":
            assert q["leaf_id"] in leaves
        else:
            assert q["sub_id"] in {sub_of[leaf] for leaf in leaves}
        assert set(q["attributes"]) <= set(e["attributes"])
    ts = [r["ts"] for r in eng]
    assert ts == sorted(ts)
    manifest = json.loads((d / "world.json").read_text())
    assert ts[0].isoformat() >= manifest["log_start"] and ts[-1].isoformat() < manifest["log_end"]


def test_actions_depend_on_the_entity_type(world):
    d, _ = world
    eng = _read(d, "engagements")
    pairs = collections.Counter(zip(eng["entity_type"].to_pylist(), eng["action"].to_pylist()))
    assert pairs[("product", "add_to_cart")] > 0 and pairs[("product", "checkout")] > 0
    assert pairs[("product", "checkout")] < pairs[("product", "add_to_cart")] < pairs[("product", "click")]
    assert not any(pairs[("pin", a)] for a in ("add_to_cart", "checkout"))
    assert {a for (t, a) in pairs if t == "query"} == {"click"}
    assert pairs[("pin", "save")] > 0 and pairs[("query", "click")] > 0


def test_queries_are_normalized_unique_and_mostly_searched(world):
    d, _ = world
    q = _read(d, "queries")
    texts = q["query_text"].to_pylist()
    assert texts == [normalize(t) for t in texts] and len(set(texts)) == len(texts)
    assert pc.sum(q["volume"]).as_py() == _read(d, "engagements").num_rows
    volume = np.sort(q["volume"].to_numpy())[::-1]
    assert volume[: len(volume) // 10].sum() > 0.4 * volume.sum()  # Zipf: the head takes most traffic


def test_board_saves_are_unique_and_after_the_pin_exists(world):
    d, _ = world
    saves = _read(d, "board_saves").to_pylist()
    assert len({(s["board_id"], s["pin_id"]) for s in saves}) == len(saves)
    created = {
        p["pin_id"]: p["created_ts"] for p in _read(d, "pins").select(["pin_id", "created_ts"]).to_pylist()
    }
    assert all(s["ts"] >= created[s["pin_id"]] for s in saves)
    titles = _read(d, "boards")["title"].to_pylist()
    noisy = sum(1 for t in titles if not re.search(r"\w", t))
    assert 0 < noisy < 0.15 * len(titles)


def test_a_save_from_search_is_a_board_save_and_unsaved_pins_get_none(world):
    d, _ = world
    first_save = {}  # pin -> its first board save
    boards_of: dict[str, set[str]] = collections.defaultdict(set)
    for s in _read(d, "board_saves").to_pylist():
        first_save[s["pin_id"]] = min(s["ts"], first_save.get(s["pin_id"], s["ts"]))
        boards_of[s["pin_id"]].add(s["board_id"])
    eng = _read(d, "engagements").to_pylist()
    saves = [r for r in eng if r["entity_type"] == "pin" and r["action"] == "save"]
    # Every pin saved from search is on a board by then (a pin nobody saves never gets a save from search).
    assert saves and all(first_save.get(r["entity_id"], r["ts"]) <= r["ts"] for r in saves)
    assert all(r["entity_id"] in first_save for r in saves)
    # ...and the board is about what was searched: the pin's board titles share a word with the query far more
    # often than with another save's query.
    title = {b["board_id"]: set(_words(b["title"])) for b in _read(d, "boards").to_pylist()}
    shared = np.mean(
        [any(title[b] & set(_words(r["query_text"])) for b in boards_of[r["entity_id"]]) for r in saves]
    )
    rng = np.random.default_rng(0)
    other = [saves[i]["query_text"] for i in rng.permutation(len(saves))]
    chance = np.mean(
        [any(title[b] & set(_words(q)) for b in boards_of[r["entity_id"]]) for r, q in zip(saves, other)]
    )
    assert shared > 0.2 and shared > 5 * chance, (shared, chance)  # titles are often in another language
    # Pins nobody saves still get long clicks and clicks from search.
    unsaved = {r["entity_id"] for r in eng if r["entity_type"] == "pin"} - set(first_save)
    assert unsaved and not any(r["entity_id"] in unsaved for r in saves)


def test_legacy_embeddings_carry_lossy_interest_and_no_color(world):
    d, _ = world
    truth = pq.read_table(d / "truth" / "entity_interests.parquet")
    truth = truth.filter(pc.equal(truth["entity_type"], "pin")).to_pylist()
    ids = [r["entity_id"] for r in truth]
    legacy = _vectors(d, "legacy_embeddings", "pin", ids)
    image = _vectors(d, "image_embeddings", "pin", ids)
    assert np.allclose(np.linalg.norm(legacy, axis=1), 1, atol=1e-4)
    leaf, sub, top = (np.array([r[k] for r in truth]) for k in ("leaf_id", "sub_id", "top_id"))
    eye = np.eye(len(leaf), dtype=bool)
    same_leaf = (leaf[:, None] == leaf[None]) & ~eye
    same_sub = (sub[:, None] == sub[None]) & ~same_leaf & ~eye
    same_top = (top[:, None] == top[None]) & (sub[:, None] != sub[None])
    other = top[:, None] != top[None]
    cos = legacy @ legacy.T
    # Coarse-heavy: leaf > sub > top > unrelated, but two pins of the same leaf are far from identical.
    means = [cos[m].mean() for m in (same_leaf, same_sub, same_top, other)]
    assert means[0] > means[1] + 0.01 and means[1] > means[2] + 0.02 and means[2] > means[3] + 0.03, means
    assert means[0] < 0.5
    np.fill_diagonal(cos, -2)
    assert 0.1 < (leaf[cos.argmax(1)] == leaf).mean() < 0.9  # nearest neighbour: same leaf, sometimes
    # Color: the image embedding sees it, the legacy embedding does not (pairs within a sub).
    colors = {a.name for a in load_lexicon().attributes if a.kind == "color"}
    color = np.array([next((a for a in r["attributes"] if a in colors), "") for r in truth])
    pairs = (sub[:, None] == sub[None]) & ~eye & (color[:, None] != "") & (color[None] != "")
    same_color, diff_color = pairs & (color[:, None] == color[None]), pairs & (color[:, None] != color[None])
    img = image @ image.T
    assert img[same_color].mean() > img[diff_color].mean() + 0.02
    assert abs(cos[same_color].mean() - cos[diff_color].mean()) < 0.015
    # New items (created in the last two months of the logs) sit further from their sub's other pins.
    created = np.array([r["created_ts"].timestamp() for r in truth])
    fresh = created > created.max() - 60 * 86400
    names, inv = np.unique(sub, return_inverse=True)
    total = np.zeros((len(names), legacy.shape[1]))
    np.add.at(total, inv, legacy)
    leave_one_out = (total[inv] - legacy) / (np.bincount(inv)[inv] - 1)[:, None]
    fit = (legacy * leave_one_out).sum(1)
    assert fresh.sum() > 10 and fit[fresh].mean() < fit[~fresh].mean() - 0.02


def test_bad_settings_are_one_line_errors(tmp_path):
    with pytest.raises(OmniSageError, match="at least 20"):
        generate_world(SynthConfig(pins=5), tmp_path)
    with pytest.raises(OmniSageError, match="legacy_dim and image_dim >= 2"):
        generate_world(SynthConfig(pins=100, image_dim=1), tmp_path)


# ---- do the signals matter? ------------------------------------------------------------------------------
def _words(text: str | None) -> collections.Counter:
    return collections.Counter(re.findall(r"\w+", normalize(text))) if text else collections.Counter()


def _lexical_recall_at_10(d: Path, eval_days: int = 60, n_pairs: int = 800) -> dict[str, float]:
    """Recall@10 of held-out (query, pin) saves/long-clicks against all pins, scored by idf-weighted token
    overlap (saturating term frequency), as the pin text grows field by field. Engaged queries come only from
    logs before the evaluation window (with a one-day gap); ties count against the positive."""
    pins = _read(d, "pins").to_pylist()
    row = {p["pin_id"]: i for i, p in enumerate(pins)}
    eng = _read(d, "engagements")
    eng = eng.filter(pc.equal(eng["entity_type"], "pin")).to_pylist()
    end = eng[-1]["ts"].timestamp()
    start, gap_end = end - eval_days * 86400, end - (eval_days + 1) * 86400
    engaged: dict[int, collections.Counter] = collections.defaultdict(collections.Counter)
    held_out = set()
    for r in eng:
        if r["ts"].timestamp() < gap_end:
            engaged[row[r["entity_id"]]][r["query_text"]] += 1
        elif r["ts"].timestamp() >= start and r["action"] in ("save", "long_click"):
            held_out.add((r["query_text"], row[r["entity_id"]]))
    pairs = sorted(held_out)
    pairs = [pairs[i] for i in np.random.default_rng(0).permutation(len(pairs))[:n_pairs]]
    boards = {b["board_id"]: b["title"] for b in _read(d, "boards").to_pylist()}
    titles: dict[int, list[str]] = collections.defaultdict(list)
    for s in _read(d, "board_saves").to_pylist():
        if s["ts"].timestamp() < gap_end:  # like engaged queries: only what was saved before the window
            titles[row[s["pin_id"]]].append(normalize(boards[s["board_id"]]))
    fields = {
        "title+description": lambda i: _words(pins[i]["title"]) + _words(pins[i]["description"]),
        "+captions": lambda i: _words(pins[i]["caption"]),
        "+board titles": lambda i: sum(
            (_words(t) for t in list(dict.fromkeys(titles[i]))[:10]), collections.Counter()
        ),
        "+engaged queries": lambda i: sum(
            (_words(q) for q, _ in engaged[i].most_common(20)), collections.Counter()
        ),
    }
    n = len(pins)
    text = [collections.Counter() for _ in range(n)]
    out = {}
    for name, field in fields.items():
        postings: dict[str, list[tuple[int, float]]] = collections.defaultdict(list)
        for i in range(n):
            text[i] += field(i)
            for w, tf in text[i].items():
                postings[w].append((i, tf / (tf + 1.0)))
        hits = []
        for query, positive in pairs:
            score = np.zeros(n)
            for w in _words(query):
                if w in postings:
                    idx, tf = zip(*postings[w])
                    score[list(idx)] += math.log(n / len(idx)) * np.array(tf)
            hits.append((score >= score[positive]).sum() <= 10)  # the positive itself counts once
        out[name] = float(np.mean(hits))
    return out


@pytest.mark.slow
def test_each_text_signal_adds_lexical_recall_and_legacy_finds_the_leaf(tmp_path):
    d = tmp_path / "w"
    generate_world(SynthConfig(pins=6000, seed=3), d)
    recall = _lexical_recall_at_10(d)
    steps = list(recall.values())
    assert all(b > a + 0.01 for a, b in itertools.pairwise(steps)), recall
    # Legacy embeddings: the nearest neighbours of a pin share its leaf far more often than chance.
    truth = pq.read_table(d / "truth" / "entity_interests.parquet")
    truth = truth.filter(pc.equal(truth["entity_type"], "pin"))
    leaf = np.array(truth["leaf_id"].to_pylist())[:2000]
    legacy = _vectors(d, "legacy_embeddings", "pin", truth["entity_id"].to_pylist()[:2000])
    cos = legacy @ legacy.T
    np.fill_diagonal(cos, -2)
    top10 = np.argsort(-cos, axis=1)[:, :10]
    precision = (leaf[top10] == leaf[:, None]).mean()
    chance = np.mean([(leaf == lf).mean() for lf in leaf])
    assert precision > 5 * chance, (precision, chance)
