"""Board titles (paper §3.2.2): per pin, the titles of the boards it was saved to, best 10 first.

Titles are cleaned (control characters become spaces, NFKC + casefold via `omnisage.text.normalize`, cut to
100 characters at a word boundary), cut into words by the encoder's tokenizer, and dropped when noisy: no
word left, or only stop words. Titles equal
after cleaning are one title. For a pin saved (before the cutoff) to N boards with kept titles:

    f(t)   = number of the pin's boards titled t                       (frequency)
    d(w)   = number of the pin's boards whose title contains word w    (word prevalence)
    P(t)   = mean of d(w) / N over the distinct content words w of t    (content word = not a stop word)
    score(t) = 1 − (f(t) / N) · P(t)                                    ∈ [0, 1); lower is better

Titles are ranked by score ascending, word count descending, character length descending, then the title
itself (a deterministic tie-break); the first `top_board_titles` (10) are kept. The score is computed as
1 − f·Σd / (N²·|content words|) from integers, so both engines produce the same bits.
"""

from __future__ import annotations

import re
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc

from omnisage.features.engaged_queries import to_us
from omnisage.features.engines import Engine
from omnisage.text.normalize import normalize
from omnisage.text.tokenizers import analyze

MAX_TITLE_CHARS = 100
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]")
# Function words of the world's languages (en, es, fr, de) and words that say nothing about a board's topic.
_STOP_WORD_TEXT = """
    a an and are as at be by for from in into is it its my of on or our the their this to with your me mine
    stuff things misc random other others board boards pins pin saved favorites favs ideas idea new
    i cosas trucs sachen tablero tableau pinnwand favoritos favoris favoriten verschiedenes divers idées ideen
    el la los las un una unos unas y o de del en con para por mi mis tu tus su sus al lo es que
    le les une des et ou du au aux avec pour par sur mon ma mes ton ta tes son sa ses est
    der die das den dem des ein eine einen und oder mit für von zu im auf mein meine dein deine ist
"""
STOP_WORDS = frozenset(_STOP_WORD_TEXT.split())

BOARD_TITLES_SCHEMA = pa.schema(
    [("pin_id", pa.string()), ("title_rank", pa.int32()), ("title", pa.string()), ("score", pa.float64())]
)


def _cleaned(raw: str) -> str:
    title = normalize(_CONTROL.sub(" ", raw))
    if len(title) > MAX_TITLE_CHARS:
        cut = title[: MAX_TITLE_CHARS + 1]
        title = cut.rsplit(" ", 1)[0] if " " in cut else cut[:MAX_TITLE_CHARS]
    return title


def _words_per_text(texts: list[str]) -> list[list[str]]:
    """Each text's words, cut by the encoder's own tokenizer (one word definition in the project)."""
    batch = analyze(texts)
    words: list[list[str]] = [[] for _ in texts]
    for word, owner in zip(batch.unigrams, batch.unigram_owner.tolist()):
        words[owner].append(word)
    return words


def _has_content(words: list[str]) -> bool:
    return any(w not in STOP_WORDS for w in words)


def clean_title(raw: str | None) -> str | None:
    """The normalized title, or None when it is empty or stop-word-only after cleaning."""
    if raw is None:
        return None
    title = _cleaned(raw)
    return title if _has_content(_words_per_text([title])[0]) else None


def title_tables(boards: pa.Table) -> tuple[pa.Table, pa.Table, int]:
    """(board_id → cleaned title), (title, content word) pairs with each title's shape, and boards dropped.

    Cleaning runs in Python over the distinct raw titles only (far fewer than board saves).
    """
    raw = boards.column("title")
    distinct = pc.unique(raw.drop_null())
    cleaned = [_cleaned(t) for t in distinct.to_pylist()]
    words = _words_per_text(cleaned)
    kept = [t if _has_content(w) else None for t, w in zip(cleaned, words)]
    titles = pa.array(kept, pa.string()).take(pc.index_in(raw, value_set=distinct))  # null stays null
    keep = pc.is_valid(titles)
    board_titles = pa.table(
        {"board_id": pc.filter(boards.column("board_id"), keep), "title": pc.filter(titles, keep)}
    )
    rows: dict[str, list] = {"title": [], "word": [], "n_words": [], "n_chars": [], "n_content": []}
    for title, title_words in sorted({t: w for t, w in zip(kept, words) if t is not None}.items()):
        content = sorted({w for w in title_words if w not in STOP_WORDS})
        for w in content:
            rows["title"].append(title)
            rows["word"].append(w)
            rows["n_words"].append(len(title_words))
            rows["n_chars"].append(len(title))
            rows["n_content"].append(len(content))
    title_words = pa.table(
        rows,
        schema=pa.schema(
            [("title", pa.string()), ("word", pa.string())]
            + [(c, pa.int64()) for c in ("n_words", "n_chars", "n_content")]
        ),
    )
    return board_titles, title_words, len(boards) - len(board_titles)


def board_titles_sql(as_of_us: int, k: int) -> str:
    return f"""WITH saves AS (
  SELECT s.pin_id, b.title FROM board_saves s JOIN board_title b ON s.board_id = b.board_id
  WHERE s.ts_us < {as_of_us}
),
pin_boards AS (SELECT pin_id, CAST(COUNT(*) AS BIGINT) AS n_boards FROM saves GROUP BY pin_id),
title_freq AS (SELECT pin_id, title, CAST(COUNT(*) AS BIGINT) AS freq FROM saves GROUP BY pin_id, title),
word_freq AS (
  SELECT f.pin_id, w.word, CAST(SUM(f.freq) AS BIGINT) AS boards_with_word
  FROM title_freq f JOIN title_word w ON f.title = w.title
  GROUP BY f.pin_id, w.word
),
prevalence AS (
  SELECT f.pin_id, f.title, MIN(f.freq) AS freq, MIN(w.n_words) AS n_words, MIN(w.n_chars) AS n_chars,
    MIN(w.n_content) AS n_content, CAST(SUM(d.boards_with_word) AS BIGINT) AS word_boards
  FROM title_freq f JOIN title_word w ON f.title = w.title
  JOIN word_freq d ON d.pin_id = f.pin_id AND d.word = w.word
  GROUP BY f.pin_id, f.title
),
scored AS (
  SELECT p.pin_id, p.title, p.n_words, p.n_chars,
    CAST(1 AS DOUBLE) - CAST(p.freq * p.word_boards AS DOUBLE)
      / CAST(b.n_boards * b.n_boards * p.n_content AS DOUBLE) AS score
  FROM prevalence p JOIN pin_boards b ON p.pin_id = b.pin_id
),
ranked AS (
  SELECT pin_id, title, score, CAST(ROW_NUMBER() OVER (
    PARTITION BY pin_id ORDER BY score, n_words DESC, n_chars DESC, title) AS INT) AS title_rank
  FROM scored
)
SELECT pin_id, title_rank, title, score FROM ranked WHERE title_rank <= {int(k)}"""


def board_titles(
    engine: Engine, boards: pa.Table, board_saves: pa.Table, as_of: datetime | int, k: int = 10
) -> tuple[pa.Table, int]:
    """Top-k board titles of every saved pin (BOARD_TITLES_SCHEMA, long form) and the number of boards dropped.

    Saves at or after `as_of` are ignored, like every log-derived feature.
    """
    as_of_us = as_of if isinstance(as_of, int) else to_us(as_of)
    board_title, title_word, dropped = title_tables(boards)
    saves = pa.table(
        {
            "board_id": board_saves.column("board_id"),
            "pin_id": board_saves.column("pin_id"),
            "ts_us": board_saves.column("ts").cast(pa.int64()),
        }
    )
    engine.register("board_saves", saves)
    engine.register("board_title", board_title)
    engine.register("title_word", title_word)
    result = (
        engine.query(board_titles_sql(as_of_us, k))
        .select(BOARD_TITLES_SCHEMA.names)
        .cast(BOARD_TITLES_SCHEMA)
    )
    return result.sort_by([("pin_id", "ascending"), ("title_rank", "ascending")]), dropped
