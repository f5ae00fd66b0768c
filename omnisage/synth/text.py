"""Surface text of the synthetic world: queries, sparse noisy pin text, product listings, simulated
image captions (English, ~88% on topic) and board titles, all rendered from latent state and the lexicon.
"""

from __future__ import annotations

import json
import re

import numpy as np

from omnisage.synth.latent import NONE, Taxonomy
from omnisage.synth.lexicon import (
    ADJECTIVE_AFTER,
    BRAND_SYLLABLES,
    CAPTION_TEMPLATES,
    CAPTION_TWO,
    CONNECTORS,
    EMOJI,
    GENERIC_CAPTIONS,
    VISUAL_KINDS,
)
from omnisage.text.normalize import normalize

CAPTION_ON_TOPIC = (
    0.88  # captions that describe the image's interest (half the rest another one, half nothing)
)

_PRODUCT_EXTRAS = {
    "en": ("set of 2", "xl", "2 pack", "new", "large", "small"),
    "es": ("juego de 2", "xl", "pack de 2", "nuevo", "grande", "pequeño"),
    "fr": ("lot de 2", "xl", "pack de 2", "nouveau", "grand", "petit"),
    "de": ("2er Set", "XL", "2er Pack", "neu", "groß", "klein"),
}


class Dice:
    """Uniform draws from a numpy Generator, buffered so per-row rendering in Python stays fast."""

    def __init__(self, rng: np.random.Generator, block: int = 1 << 16):
        self._rng, self._block = rng, block
        self._it = iter(())

    def u(self) -> float:
        try:
            return next(self._it)
        except StopIteration:
            self._it = iter(self._rng.random(self._block).tolist())
            return next(self._it)

    def chance(self, p: float) -> bool:
        return self.u() < p

    def pick(self, seq):
        return seq[int(self.u() * len(seq))]


class Writer:
    """Renders text for one world; word tables are indexed [language][concept] -> synonyms."""

    def __init__(self, tax: Taxonomy, rng: np.random.Generator):
        lx = tax.lexicon
        self.tax = tax
        self.langs = tax.languages
        concepts = (*lx.leaves, *lx.subs)
        self.concept = [[c.words[lang] for c in concepts] for lang in self.langs]
        self.top = [[c.words[lang] for c in lx.tops] for lang in self.langs]
        self.attr = [[a.words[lang] for a in lx.attributes] for lang in self.langs]
        self.generic = [[g.words[lang] for g in lx.generic] for lang in self.langs]
        self.filler = [[f.words[lang] for f in lx.filler] for lang in self.langs]
        self.noisy = [[b.words[lang] for b in lx.noisy_boards] for lang in self.langs]
        self.en_leaf = [c.words["en"] for c in lx.leaves]
        self.en_attr = [a.words["en"] for a in lx.attributes]
        self.attr_kind = [a.kind for a in lx.attributes]
        self.visual = {i for i, a in enumerate(lx.attributes) if a.kind in VISUAL_KINDS}
        self.brands = [[_brand(rng) for _ in range(8)] for _ in lx.tops]  # invented names, 8 per interest

    # ---- shared pieces -------------------------------------------------------------------------------
    def _phrase(
        self, d: Dice | None, lang: int, concept: int, attrs: list[int], synonym: int | None = None
    ) -> str:
        """A noun phrase for a concept with attributes, in the word order the language prefers. A fixed
        `synonym` picks the surface forms deterministically (queries); otherwise `d` draws them."""
        code = self.langs[lang]
        words = self.concept[lang][concept]
        noun = words[synonym % len(words)] if synonym is not None else d.pick(words)
        conn = CONNECTORS[code]
        before, after = [], []
        for a in attrs:
            forms = self.attr[lang][a]
            word = forms[synonym // 2 % len(forms)] if synonym is not None else d.pick(forms)
            if self.attr_kind[a] == "material" and code != "en":
                after.append(f"{conn['made']} {word}")
            elif code in ADJECTIVE_AFTER or (code == "de" and (synonym or 0) % 2):
                after.append(word)
            else:
                before.append(word)
        return " ".join([*before, noun, *after])

    def _typos(self, d: Dice, text: str, rate: float) -> str:
        out = []
        for w in text.split(" "):
            if len(w) >= 4 and d.chance(rate):
                i = 1 + int(d.u() * (len(w) - 2))
                op = d.u()
                w = (
                    w[:i] + w[i + 1 :]
                    if op < 0.4
                    else w[: i - 1] + w[i] + w[i - 1] + w[i + 1 :]
                    if op < 0.7
                    else w[:i] + w[i] + w[i:]
                )
            out.append(w)
        return " ".join(out)

    def _attrs(self, a1: int, a2: int) -> list[int]:
        return [a for a in (a1, a2) if a != NONE]

    # ---- queries -------------------------------------------------------------------------------------
    def query(
        self, concept: int, a1: int, a2: int, generic: int, context: int, lang: int, synonym: int
    ) -> str:
        text = self._phrase(None, lang, concept, self._attrs(a1, a2), synonym)
        if context:
            sub_words = self.concept[lang][self.tax.n_leaves + int(self.tax.leaf_sub[concept])]
            sub = sub_words[synonym % len(sub_words)]
            text = f"{text} {sub}" if self.langs[lang] in ADJECTIVE_AFTER else f"{sub} {text}"
        if generic != NONE:
            forms = self.generic[lang][generic]
            text = f"{text} {forms[synonym % len(forms)]}"
        return normalize(text)

    # ---- pins ----------------------------------------------------------------------------------------
    def pin(self, d: Dice, lang: int, leaf: int, leaf2: int, a1: int, a2: int) -> dict[str, str | None]:
        """Title, description and link of a pin that has text: short, partial, sometimes vague or off-topic."""
        has_title = d.chance(0.75)
        has_desc = d.chance(0.55) or not has_title
        mode = d.u()
        topic = leaf
        if mode < 0.08:  # off-topic text (wrong or misleading title)
            topic = int(d.u() * self.tax.n_leaves)
        attrs = [a for a in self._attrs(a1, a2) if d.chance(0.5)] if topic == leaf else []
        sub = self.tax.n_leaves + int(self.tax.leaf_sub[topic])
        title = desc = None
        if has_title:
            if 0.08 <= mode < 0.16:  # nothing but filler ("love this ✨")
                title = d.pick(d.pick(self.filler[lang]))
            elif 0.16 <= mode < 0.30:  # vague: only the sub-interest
                title = self._phrase(d, lang, sub, [])
            else:
                title = self._phrase(d, lang, topic, attrs)
            if d.chance(0.2):
                title = f"{title} {d.pick(d.pick(self.generic[lang]))}"
            if d.chance(0.2):
                title = f"{title} {d.pick(EMOJI)}"
            title = self._typos(d, title, 0.04)
            if d.chance(0.3):
                title = title.title()
        if has_desc:
            parts: list[str] = []
            if mode >= 0.16 and d.chance(0.6):
                parts.append(self._phrase(d, lang, topic, attrs))
            if leaf2 != NONE and topic == leaf and d.chance(0.5):
                parts.append(self._phrase(d, lang, leaf2, []))
            if d.chance(0.35):
                parts.append(f"{CONNECTORS[self.langs[lang]]['for']} {d.pick(self.concept[lang][sub])}")
            if d.chance(0.25):
                parts.append(d.pick(self.top[lang][int(self.tax.leaf_top[topic])]))
            if d.chance(0.5) or not parts:
                parts.append(d.pick(d.pick(self.filler[lang])))
            if d.chance(0.3):
                parts.append("#" + d.pick(self.concept[lang][topic]).replace(" ", "").lower())
            if d.chance(0.3):
                parts.append(d.pick(EMOJI))
            order = sorted(range(len(parts)), key=lambda _: d.u())
            desc = self._typos(d, " ".join(parts[i] for i in order), 0.03)
        link = None
        if title and d.chance(0.5):
            slug = "-".join(re.findall(r"\w+", title.lower())[:6])
            link = f"https://blog{int(d.u() * 50)}.example.com/{slug}"
        return {"title": title, "description": desc, "link": link}

    # ---- products ------------------------------------------------------------------------------------
    def product(
        self, d: Dice, lang: int, leaf: int, a1: int, a2: int, product_id: str
    ) -> dict[str, str | None]:
        """Title, description, brand, color, attributes JSON and link of a product listing."""
        code = self.langs[lang]
        brands = self.brands[int(self.tax.leaf_top[leaf])]
        brand = brands[int(len(brands) * d.u() ** 2)]  # a few big brands per interest
        attrs = self._attrs(a1, a2)
        shown = [a for a in attrs if d.chance(0.8)]
        title = None
        if d.chance(0.98):
            title = self._phrase(d, lang, leaf, shown)
            if d.chance(0.7):
                title = f"{brand} {title}"
            if d.chance(0.4):
                title = f"{title} {d.pick(_PRODUCT_EXTRAS[code])}"
            title = title[0].upper() + title[1:]
        desc = None
        if d.chance(0.7):
            conn = CONNECTORS[code]
            sub = self.tax.n_leaves + int(self.tax.leaf_sub[leaf])
            parts = [self._phrase(d, lang, leaf, [a for a in attrs if self.attr_kind[a] != "material"])]
            parts += [
                f"{conn['made']} {d.pick(self.attr[lang][a])}"
                for a in attrs
                if self.attr_kind[a] == "material"
            ]
            if d.chance(0.5):
                parts.append(f"{conn['for']} {d.pick(self.concept[lang][sub])}")
            if d.chance(0.2):
                parts.append(d.pick(d.pick(self.filler[lang])))
            desc = ". ".join(parts)
        colors = [a for a in attrs if self.attr_kind[a] == "color"]
        color = d.pick(self.attr[lang][colors[0]]) if colors and d.chance(0.9) else None
        others = {self.attr_kind[a]: self.attr[lang][a][0] for a in attrs if self.attr_kind[a] != "color"}
        attributes = (
            json.dumps(others, ensure_ascii=False, sort_keys=True) if others and d.chance(0.4) else None
        )
        return {
            "title": title,
            "description": desc,
            "brand": brand if d.chance(0.9) else None,
            "color": color,
            "attributes": attributes,
            "link": f"https://shop.example.com/{brand.lower()}/{product_id}",
        }

    # ---- captions ------------------------------------------------------------------------------------
    def caption(self, d: Dice, leaf: int, leaf2: int, a1: int, a2: int) -> tuple[str, bool]:
        """A captioner's English description of the image; (text, whether it is about the item's interest)."""
        r = d.u()
        if r < CAPTION_ON_TOPIC:
            shown = [a for a in self._attrs(a1, a2) if a in self.visual and d.chance(0.7)]
            x = " ".join([*(d.pick(self.en_attr[a]) for a in shown), d.pick(self.en_leaf[leaf])])
            if leaf2 != NONE and d.chance(0.4):
                text = CAPTION_TWO.format(x=x, y=d.pick(self.en_leaf[leaf2]))
            else:
                text = d.pick(CAPTION_TEMPLATES).format(x=x)
            return _articles(text), True
        if r < CAPTION_ON_TOPIC + (1.0 - CAPTION_ON_TOPIC) / 2:  # confidently describes something else
            other = int(d.u() * self.tax.n_leaves)
            while self.tax.leaf_top[other] == self.tax.leaf_top[leaf]:
                other = int(d.u() * self.tax.n_leaves)
            return _articles(d.pick(CAPTION_TEMPLATES).format(x=d.pick(self.en_leaf[other]))), False
        return d.pick(GENERIC_CAPTIONS), False

    # ---- boards --------------------------------------------------------------------------------------
    def board_title(self, d: Dice, kind: int, concept: int, attr: int, top: int, lang: int) -> str:
        if kind == 1:
            return d.pick(d.pick(self.noisy[lang]))
        if kind == 2:
            return "".join(d.pick(EMOJI) for _ in range(1 + int(d.u() * 3)))
        if kind == 3:
            return d.pick(("", " ", "  "))
        noun = self._phrase(d, lang, concept, [attr] if attr != NONE else [])
        r = d.u()
        if r < 0.6:
            title = noun
        elif r < 0.75:
            title = f"{noun} {d.pick(d.pick(self.generic[lang]))}"
        elif r < 0.9:
            title = f"{noun} {d.pick(EMOJI)}"
        else:
            title = f"{d.pick(self.top[lang][top])} {noun}"
        return title.title() if d.chance(0.4) else title


def _brand(rng: np.random.Generator) -> str:
    syllables = rng.integers(0, len(BRAND_SYLLABLES), int(rng.integers(2, 4)))
    return "".join(BRAND_SYLLABLES[i] for i in syllables).title()


def _articles(text: str) -> str:
    """'a apple' -> 'an apple', the way a captioner writes it."""
    words = text.split(" ")
    for i in range(len(words) - 1):
        if words[i] == "a" and words[i + 1][:1] in "aeiou":
            words[i] = "an"
    return " ".join(words)
