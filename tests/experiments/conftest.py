"""Fixtures for the experiments: the evaluation tests' toy world (ablations), and for the real-data benchmark a
small Home Depot-format CSV and a tiny local encoder folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from ..eval.conftest import toy_world  # noqa: F401  (a fixture: the colour/object world of tests/eval)
from ..tiny_bert import write_tiny_bert

# Three "topics" of products; each query engages one or two products of its topic (relevance 3) and is
# judged irrelevant to one product of another topic (relevance 1). Queries 0-1 of a topic share a product.
TOPICS = {
    "drill": ["cordless drill", "drill driver kit", "hammer drill", "impact drill", "power drill"],
    "paint": ["white paint", "interior paint", "paint gallon", "wall paint", "primer paint"],
    "lamp": ["desk lamp", "floor lamp", "led lamp", "table lamp", "reading lamp"],
}


def homedepot_csv(path: Path, *, extra: str = "") -> Path:
    lines = ["id,product_uid,product_title,search_term,relevance"]
    row = 1
    names = list(TOPICS)
    for t, (topic, queries) in enumerate(TOPICS.items()):
        for i, query in enumerate(queries):
            product = 1000 + 10 * t + i
            other = 1000 + 10 * ((t + 1) % len(names))
            lines.append(f"{row},{product},{topic.title()} model {i} {query},{query},3")
            lines.append(f"{row + 1},{other},{names[(t + 1) % 3].title()} model 0,{query},1")
            if i == 1:  # queries 0 and 1 share product 0: a derived query→query pair
                lines.append(f"{row + 2},{product - 1},{topic.title()} model 0 {queries[0]},{query},2.67")
            row += 3
    path.write_text("\n".join(lines) + "\n" + extra, encoding="utf-8")
    return path


@pytest.fixture
def csv_path(tmp_path: Path) -> Path:
    return homedepot_csv(tmp_path / "train.csv", extra="999,1999,,bad row,3\n")


@pytest.fixture(scope="session")
def tiny_encoder_dir(tmp_path_factory) -> Path:
    """A randomly initialized 2-layer BERT (hidden 32) with the packaged MiniLM tokenizer, as a local folder."""
    return write_tiny_bert(tmp_path_factory.mktemp("tiny_bert"))
