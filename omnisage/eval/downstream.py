"""Downstream use of the query embedding (paper §5.4): hierarchical query-interest classification.

Each level of the synthetic taxonomy (top interest, sub-interest, leaf) is a flat classification task over
the queries the world labels (`truth/query_interests.parquet`). Two classifiers see the same split: a
linear softmax on frozen query embeddings, and a fastText-style model (Joulin et al. 2017: the mean of
learned word, word-bigram and hashed char-trigram vectors, then a linear softmax) trained from scratch.
Only n-grams seen in training get a vector (the others carry no trained signal in fastText either).
Precision = share of test queries whose top-1 predicted class is right, per level.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from omnisage.config import EvalConfig
from omnisage.errors import DataError
from omnisage.text.hashing import stable_hash
from omnisage.text.tokenizers import analyze

LEVELS = (("top", "top_id"), ("sub", "sub_id"), ("leaf", "leaf_id"))
TRIGRAM_BUCKETS = 1 << 16
TRIGRAM_SEED = 0xFA57
TRAIN_SHARE = 0.5  # labelled queries used to fit the interest classifiers (the rest are the test set)
FASTTEXT_EPOCHS = 60  # passes of the fastText-style classifier over its training queries


def load_query_labels(truth_dir: str | Path) -> pa.Table:
    path = Path(truth_dir) / "query_interests.parquet"
    if not path.is_file():
        raise DataError("no query interest labels (written by `omnisage synth`)", path=str(path))
    table = pq.read_table(path)
    missing = [c for c in ("query_text", *(col for _, col in LEVELS)) if c not in table.column_names]
    if missing:
        raise DataError(f"missing columns {missing}", path=str(path))
    return table


@dataclass(frozen=True)
class Split:
    texts: list[str]
    labels: np.ndarray  # (n,) int64 class ids
    train: np.ndarray  # (n,) bool


def level_split(labels: pa.Table, column: str, train_share: float, seed: int) -> tuple[Split, list[str]]:
    """Queries labelled at this level, their class ids, and a seeded train/test split stratified by class
    (every class with 2+ queries keeps at least one test and one train query)."""
    keep = labels.filter(pc.is_valid(labels.column(column)))
    names = keep.column(column).to_pylist()
    classes = sorted(set(names))
    index = {c: i for i, c in enumerate(classes)}
    y = np.array([index[n] for n in names], dtype=np.int64)
    rng = np.random.default_rng(seed)
    train = np.zeros(len(y), dtype=bool)
    for c in range(len(classes)):
        members = rng.permutation(np.flatnonzero(y == c))
        n_train = (
            len(members)
            if len(members) < 2
            else min(len(members) - 1, max(1, round(train_share * len(members))))
        )
        train[members[:n_train]] = True
    return Split(keep.column("query_text").to_pylist(), y, train), classes


def embedding_classifier_precision(vectors: np.ndarray, split: Split, n_classes: int, seed: int) -> float:
    """Multinomial logistic regression (full-batch L-BFGS, small L2) on frozen query embeddings: test
    precision@1."""
    import torch

    torch.manual_seed(seed)
    x = torch.from_numpy(np.asarray(vectors, np.float32))  # (n, D)
    train = torch.from_numpy(split.train)
    y = torch.from_numpy(split.labels)
    model = torch.nn.Linear(x.shape[1], n_classes)
    opt = torch.optim.LBFGS(model.parameters(), lr=1.0, max_iter=200, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = (
            torch.nn.functional.cross_entropy(model(x[train]), y[train]) + 1e-4 * model.weight.square().sum()
        )
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        predicted = model(x[~train]).argmax(1)  # (n_test,)
    return float((predicted == y[~train]).float().mean())


def _bag_of_ngrams(
    texts: list[str], vocab: dict[object, int] | None
) -> tuple[list[np.ndarray], dict[object, int]]:
    """Per text: vocabulary ids of its words, word bigrams and hashed char trigrams (a trigram's key is its
    bucket). The vocabulary is built from the texts when None; unseen n-grams are dropped afterwards."""
    tokens = analyze(texts)
    buckets = (stable_hash(tokens.trigram_keys, TRIGRAM_SEED) % np.uint64(TRIGRAM_BUCKETS)).astype(np.int64)
    kinds = (
        (tokens.unigrams, tokens.unigram_owner),
        (tokens.bigrams, tokens.bigram_owner),
        (buckets.tolist(), tokens.trigram_owner),
    )
    if vocab is None:
        vocab = {}
        for grams, _ in kinds:
            for gram in grams:
                vocab.setdefault(gram, len(vocab))
    ids: list[list[int]] = [[] for _ in texts]
    for grams, owners in kinds:
        for gram, owner in zip(grams, owners.tolist()):
            if gram in vocab:
                ids[owner].append(vocab[gram])
    return [np.asarray(i, dtype=np.int64) for i in ids], vocab


def fasttext_precision(split: Split, n_classes: int, epochs: int, seed: int, dim: int = 64) -> float:
    """fastText-style bag of n-grams (mean of learned vectors) → linear softmax, trained from scratch with
    mini-batch Adam: test precision@1."""
    import torch

    torch.manual_seed(seed)
    texts = np.asarray(split.texts, dtype=object)
    train_ids, vocab = _bag_of_ngrams(list(texts[split.train]), None)
    test_ids, _ = _bag_of_ngrams(list(texts[~split.train]), vocab)
    bag = torch.nn.EmbeddingBag(len(vocab), dim, mode="mean")
    out = torch.nn.Linear(dim, n_classes)
    opt = torch.optim.Adam([*bag.parameters(), *out.parameters()], lr=1e-2)

    def logits(lists: list[np.ndarray]) -> torch.Tensor:
        offsets = np.cumsum([0] + [len(x) for x in lists[:-1]]).astype(np.int64)
        flat = np.concatenate(lists) if lists else np.zeros(0, np.int64)
        return out(bag(torch.from_numpy(flat), torch.from_numpy(offsets)))  # (b, dim) -> (b, C)

    y = torch.from_numpy(split.labels[split.train])
    rng = np.random.default_rng(seed)
    batch = 64
    steps = max(epochs * -(-len(train_ids) // batch), 300)  # small label sets still get enough updates
    for _ in range(steps):
        rows = rng.choice(len(train_ids), size=min(batch, len(train_ids)), replace=False)
        loss = torch.nn.functional.cross_entropy(logits([train_ids[r] for r in rows]), y[rows])
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        predicted = logits(test_ids).argmax(1).numpy()
    return float(np.mean(predicted == split.labels[~split.train]))


@contextlib.contextmanager
def _one_thread():
    """These models are tiny: a thread pool costs more than it saves (and stalls on a shared machine)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def interest_classification(
    truth_dir: str | Path,
    encode_queries: Callable[[list[str]], np.ndarray],
    cfg: EvalConfig,
    *,
    epochs: int = FASTTEXT_EPOCHS,
) -> list[dict]:
    """Precision per taxonomy level of both classifiers, with the relative gain of the embedding one
    (`epochs`: of the fastText-style one; tests pass fewer)."""
    labels = load_query_labels(truth_dir)
    rows = []
    for level, column in LEVELS:
        split, classes = level_split(labels, column, TRAIN_SHARE, cfg.seed)
        if len(classes) < 2 or split.train.all():
            continue
        vectors = np.concatenate(
            [
                np.asarray(encode_queries(split.texts[lo : lo + 1024]))
                for lo in range(0, len(split.texts), 1024)
            ]
        )
        with _one_thread():
            embedding = embedding_classifier_precision(vectors, split, len(classes), cfg.seed)
            fasttext = fasttext_precision(split, len(classes), epochs, cfg.seed)
        rows.append(
            {
                "level": level,
                "classes": len(classes),
                "train_queries": int(split.train.sum()),
                "test_queries": int((~split.train).sum()),
                "embedding_precision": embedding,
                "fasttext_precision": fasttext,
                "gain": embedding / fasttext - 1.0 if fasttext > 0 else float("inf"),
            }
        )
    return rows
