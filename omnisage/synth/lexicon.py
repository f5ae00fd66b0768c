"""The synthetic world's built-in lexicon: an interest taxonomy and attributes with real words (and synonyms)
in en/es/fr/de, so one interest reads differently across languages: the gap engaged queries and boards bridge.
The words live in the package data file `lexicon.toml`; this module parses them.
"""

from __future__ import annotations

import functools
import re
import tomllib
from dataclasses import dataclass
from importlib import resources

_DATA = tomllib.loads(resources.files(__package__).joinpath("lexicon.toml").read_text(encoding="utf-8"))

LANGUAGES: tuple[str, ...] = tuple(_DATA["languages"])
VISUAL_KINDS: tuple[str, ...] = tuple(_DATA["visual_kinds"])
ADJECTIVE_AFTER: frozenset[str] = frozenset(_DATA["adjective_after"])
EMOJI: tuple[str, ...] = tuple(_DATA["emoji"])
BRAND_SYLLABLES: tuple[str, ...] = tuple(_DATA["brand_syllables"])
CAPTION_TEMPLATES: tuple[str, ...] = tuple(_DATA["caption_templates"])
CAPTION_TWO: str = _DATA["caption_two"]
GENERIC_CAPTIONS: tuple[str, ...] = tuple(_DATA["generic_captions"])
CONNECTORS: dict[str, dict[str, str]] = _DATA["connectors"]  # language -> role ("for", "made") -> word


@dataclass(frozen=True)
class Concept:
    """A taxonomy node or attribute: a stable id, an English name and surface words per language."""

    id: str
    name: str
    words: dict[str, tuple[str, ...]]
    kind: str = ""  # level ("top", "sub", "leaf") or attribute kind ("color", ...)
    parent: int = -1  # index of the parent in the level above
    attr_kinds: tuple[str, ...] = ()  # top-level only
    pin_weight: float = 1.0  # top-level only
    product_weight: float = 1.0  # top-level only


@dataclass(frozen=True)
class Lexicon:
    tops: tuple[Concept, ...]
    subs: tuple[Concept, ...]
    leaves: tuple[Concept, ...]
    attributes: tuple[Concept, ...]
    generic: tuple[Concept, ...]
    filler: tuple[Concept, ...]
    noisy_boards: tuple[Concept, ...]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def _words(columns: str) -> dict[str, tuple[str, ...]]:
    cells = [c.strip() for c in columns.split("|")]
    if len(cells) != len(LANGUAGES):
        raise ValueError(f"lexicon line needs {len(LANGUAGES)} languages: {columns!r}")
    return {lang: tuple(w.strip() for w in cell.split("/")) for lang, cell in zip(LANGUAGES, cells)}


def _plain(block: str, kind: str = "") -> tuple[Concept, ...]:
    out = []
    for line in block.strip().splitlines():
        words = _words(line)
        out.append(Concept(_slug(words["en"][0]), words["en"][0], words, kind))
    return tuple(out)


@functools.cache
def load_lexicon() -> Lexicon:
    """Parse the built-in lexicon (cached: it never changes within a process)."""
    tops: list[Concept] = []
    subs: list[Concept] = []
    leaves: list[Concept] = []
    for line in _DATA["taxonomy"].strip().splitlines():
        tag, rest = line[0], line[2:]
        if tag == "T":
            cols, kinds, pin_w, prod_w = (p.strip() for p in rest.split(";"))
            words = _words(cols)
            tops.append(
                Concept(
                    _slug(words["en"][0]),
                    words["en"][0],
                    words,
                    "top",
                    attr_kinds=tuple(kinds.split()),
                    pin_weight=float(pin_w),
                    product_weight=float(prod_w),
                )
            )
        else:
            words = _words(rest)
            level, parents = ("sub", tops) if tag == "S" else ("leaf", subs)
            target = subs if tag == "S" else leaves
            cid = f"{parents[-1].id}/{_slug(words['en'][0])}"
            target.append(Concept(cid, words["en"][0], words, level, parent=len(parents) - 1))
    attributes = []
    for line in _DATA["attributes"].strip().splitlines():
        kind, cols = line.split(":", 1)
        words = _words(cols)
        attributes.append(Concept(_slug(words["en"][0]), words["en"][0], words, kind.strip()))
    return Lexicon(
        tuple(tops),
        tuple(subs),
        tuple(leaves),
        tuple(attributes),
        _plain(_DATA["generic"]),
        _plain(_DATA["filler"]),
        _plain(_DATA["noisy_boards"]),
    )
