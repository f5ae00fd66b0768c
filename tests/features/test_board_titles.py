"""Board titles: the documented formula on a hand-computed pin, cleaning rules, and a brute-force Python oracle."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pyarrow as pa
import pytest

from omnisage.features.board_titles import STOP_WORDS, board_titles, clean_title, title_tables
from omnisage.features.engines import DuckDBEngine
from omnisage.text.tokenizers import analyze

AS_OF = datetime(2024, 7, 1, tzinfo=UTC)
TS = pa.timestamp("us", tz="UTC")


def _run(
    titles: dict[str, str | None], saves: list[tuple[str, str, int]], k: int = 10
) -> tuple[pa.Table, int]:
    boards = pa.table({"board_id": list(titles), "title": pa.array(list(titles.values()), pa.string())})
    board_saves = pa.table(
        {
            "board_id": [b for b, _, _ in saves],
            "pin_id": [p for _, p, _ in saves],
            "ts": pa.array([AS_OF - timedelta(days=d) for _, _, d in saves], TS),
        }
    )
    return board_titles(DuckDBEngine(), boards, board_saves, AS_OF, k)


def test_hand_computed_scores_and_ranking():
    # p saved to 9 kept boards: 5 "christmas cookies", 3 "cookies", 1 "xmas" (+1 stop-word-only, dropped).
    titles = {f"b{i}": "Christmas Cookies" for i in range(5)}
    titles |= {f"c{i}": "cookies" for i in range(3)} | {"x": "Xmas", "s": "My stuff!"}
    out, dropped = _run(titles, [(b, "p", 1) for b in titles])
    # N = 9; d(christmas) = 5, d(cookies) = 8, d(xmas) = 1
    assert out.column("title").to_pylist() == ["christmas cookies", "cookies", "xmas"]
    assert out.column("score").to_pylist() == pytest.approx(
        [1 - 5 / 9 * 13 / 18, 1 - 3 / 9 * 8 / 9, 1 - 1 / 9 * 1 / 9]
    )
    assert out.column("title_rank").to_pylist() == [1, 2, 3]
    assert dropped == 1


def test_ties_break_by_word_count_then_length_then_title():
    # Five titles seen once, with no shared words: every score is 1 - (1/5)(1/5).
    titles = {
        "a": "sofa",
        "b": "velvet green sofas",
        "c": "oak tables",
        "d": "pine chairs",
        "e": "elm stools",
    }
    out, _ = _run(titles, [(b, "p", 1) for b in titles])
    assert out.column("title").to_pylist() == [
        "velvet green sofas",
        "pine chairs",
        "elm stools",
        "oak tables",
        "sofa",
    ]
    assert len(set(out.column("score").to_pylist())) == 1


def test_keeps_top_k_and_ignores_saves_after_the_cutoff():
    titles = {f"b{i}": f"topic{i}" for i in range(15)} | {"late": "leaked title"}
    saves = [(f"b{i}", "p", 1) for i in range(15)] + [("late", "p", 0), ("late", "q", -2)]
    out, _ = _run(titles, saves, k=10)
    assert out.num_rows == 10
    assert "leaked title" not in out.column("title").to_pylist()
    assert set(out.column("pin_id").to_pylist()) == {"p"}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Christmas   COOKIES ", "christmas cookies"),
        ("Ｃｏｏｋｉｅｓ", "cookies"),  # NFKC folds full-width letters
        ("tab\x00le\u200bware", "tab le ware"),  # control and zero-width characters separate words
        ("", None),
        ("   ", None),
        (None, None),
        ("!!! ???", None),  # punctuation only
        ("🍪🍪", None),  # symbols only
        ("My Favorites", None),  # stop words only
        ("Ideas for the kitchen", "ideas for the kitchen"),
    ],
)
def test_clean_title(raw, expected):
    assert clean_title(raw) == expected


def test_long_titles_are_cut_at_a_word_boundary():
    title = clean_title("word " * 40)
    assert title is not None and len(title) <= 100 and title.endswith("word")


def test_title_tables_shape():
    boards = pa.table(
        {"board_id": ["a", "b", "c"], "title": ["Oak & pine tables", "OAK & PINE TABLES", None]}
    )
    kept, words, dropped = title_tables(boards)
    assert kept.column("title").to_pylist() == ["oak & pine tables"] * 2
    assert dropped == 1
    assert words.to_pylist() == [
        {"title": "oak & pine tables", "word": w, "n_words": 3, "n_chars": 17, "n_content": 3}
        for w in ("oak", "pine", "tables")
    ]


def _oracle(boards: dict[str, str | None], saves: list[tuple[str, str, int]], k: int) -> dict[str, list[str]]:
    """The module docstring's formula, computed directly in Python with exact fractions."""
    by_pin: dict[str, list[str]] = {}
    for board, pin, days in saves:
        title = clean_title(boards[board])
        if days > 0 and title is not None:
            by_pin.setdefault(pin, []).append(title)
    out = {}
    for pin, titles in by_pin.items():
        n = len(titles)
        freq = Counter(titles)
        words = {t: analyze([t]).unigrams for t in freq}
        content = {t: sorted({w for w in ws if w not in STOP_WORDS}) for t, ws in words.items()}
        doc = Counter(w for t in titles for w in content[t])
        score = {
            t: 1 - Fraction(freq[t], n) * Fraction(sum(doc[w] for w in content[t]), n * len(content[t]))
            for t in freq
        }
        ranked = sorted(freq, key=lambda t: (score[t], -len(words[t]), -len(t), t))
        out[pin] = ranked[:k]
    return out


def test_matches_a_python_oracle_on_random_boards():
    rng = random.Random(3)
    vocab = [
        "oak",
        "pine",
        "table",
        "tables",
        "kitchen",
        "ideas",
        "my",
        "the",
        "red",
        "sofa",
        "Garden",
        "DIY",
    ]
    boards = {f"b{i}": " ".join(rng.choices(vocab, k=rng.randint(1, 4))) for i in range(60)}
    boards |= {"n1": None, "n2": " ", "n3": "the my"}
    saves = {(rng.choice(list(boards)), f"p{rng.randrange(25)}") for _ in range(400)}
    saves_list = [(b, p, rng.randint(-5, 300)) for b, p in sorted(saves)]
    out, _ = _run(boards, saves_list, k=10)
    got: dict[str, list[str]] = {}
    for row in out.to_pylist():
        got.setdefault(row["pin_id"], []).append(row["title"])
    assert got == _oracle(boards, saves_list, 10)
