"""Review mining for copy: which aspects reviewers mention, with what sentiment, and short phrases to quote.

Lexicon-based and offline (English and Chinese): reviews are split into clauses (at sentence ends, commas
and "but"/"但"), each clause's aspects come from :data:`sitewide.domain.creative.ASPECTS`, its polarity from
small sentiment word lists with negation flipping the next word ("not soft", "不舒服"); a clause with no
sentiment word takes the review's star rating (≥ 4 positive, ≤ 2 negative, 3 neutral). Key phrases are the
clauses' "sentiment word … aspect word" spans of positive clauses, most frequent first.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from sitewide.domain.creative import ASPECTS, AspectEvidence, ReviewEvidence, aspects_in

POS_EN = frozenset(
    "love loved loves lovely perfect perfectly great beautiful beautifully soft comfortable comfy gorgeous nice "
    "cute pretty excellent amazing wonderful happy good flattering fantastic stunning elegant favorite "
    "favourite recommend compliments classy versatile cozy warm well".split()
)
NEG_EN = frozenset(
    "tight loose cheap thin itchy disappointed disappointing poor bad returned returning unflattering scratchy "
    "boxy huge awkward weird sheer wrinkled wrinkles smaller bigger odd strange frumpy unfortunately sadly "
    "tent shapeless snug".split()
)
NEGATORS_EN = frozenset("not no never isn't wasn't doesn't didn't don't aren't weren't hardly".split())
POS_ZH = (
    "喜欢",
    "满意",
    "舒服",
    "舒适",
    "漂亮",
    "不错",
    "柔软",
    "合适",
    "推荐",
    "好看",
    "很好",
    "好评",
    "值得",
)
NEG_ZH = ("失望", "起球", "掉色", "偏小", "偏大", "太薄", "太硬", "退货", "差评", "难看", "质量差")
NEGATORS_ZH = ("不", "没", "无")

_CLAUSE = re.compile(r"[.!?;\n。！？；，,]+|\bbut\b|\bhowever\b|但是|但|不过", re.IGNORECASE)
_WORD = re.compile(r"[a-z']+")


@dataclass(frozen=True, slots=True)
class Review:
    text: str
    rating: int | None = None
    title: str = ""


def clauses(text: str) -> list[str]:
    return [c.strip() for c in _CLAUSE.split(text) if c and c.strip()]


def polarity(clause: str) -> int:
    """+1 / −1 / 0 from the sentiment words, a negator flipping the word right after it (English) or the
    sentiment term it prefixes (Chinese)."""
    score = 0
    words = _WORD.findall(clause.lower())
    for i, w in enumerate(words):
        s = 1 if w in POS_EN else -1 if w in NEG_EN else 0
        if s and i > 0 and (words[i - 1] in NEGATORS_EN or (i > 1 and words[i - 2] in NEGATORS_EN)):
            s = -s
        score += s
    for term in POS_ZH:
        for m in re.finditer(re.escape(term), clause):
            neg = m.start() > 0 and clause[m.start() - 1] in NEGATORS_ZH and term != "不错"
            score += -1 if neg else 1
    score -= sum(clause.count(t) for t in NEG_ZH)
    return (score > 0) - (score < 0)


_EN_TERMS = sorted({t for a in ASPECTS for t in (*a.en_terms, a.en)}, key=len, reverse=True)
_PHRASE = re.compile(
    r"\b((?:so |very |really |super )?(?:"
    + "|".join(sorted(POS_EN, key=len, reverse=True))
    + r")(?: [a-z]+){0,2}? (?:"
    + "|".join(re.escape(t) for t in _EN_TERMS)
    + r"))\b",
    re.IGNORECASE,
)


def extract(product_id: str, reviews: Sequence[Review], max_phrases: int = 8) -> ReviewEvidence:
    """Aspect counts with sentiment and the most frequent positive phrases over a product's reviews."""
    pos: Counter[str] = Counter()
    neg: Counter[str] = Counter()
    phrases: dict[str, Counter[str]] = {}
    all_phrases: Counter[str] = Counter()
    ratings = [r.rating for r in reviews if r.rating is not None]
    for r in reviews:
        fallback = 0 if r.rating is None else (1 if r.rating >= 4 else -1 if r.rating <= 2 else 0)
        for c in clauses(f"{r.title}. {r.text}" if r.title else r.text):
            keys = aspects_in(c)
            if not keys:
                continue
            p = polarity(c) or fallback
            for k in keys:
                if p > 0:
                    pos[k] += 1
                elif p < 0:
                    neg[k] += 1
            if p > 0:
                for m in _PHRASE.finditer(c):
                    ph = m.group(1).lower()
                    all_phrases[ph] += 1
                    for k in aspects_in(ph):
                        phrases.setdefault(k, Counter())[ph] += 1
                zh = c if re.search(r"[\u4e00-\u9fff]", c) and len(c) <= 16 else ""
                if zh:
                    all_phrases[zh] += 1
                    for k in keys:
                        phrases.setdefault(k, Counter())[zh] += 1
    ordered = sorted(set(pos) | set(neg), key=lambda k: (-(pos[k] + neg[k]), k))
    aspects = tuple(
        AspectEvidence(k, pos[k], neg[k], tuple(p for p, _ in phrases.get(k, Counter()).most_common(3)))
        for k in ordered
    )
    return ReviewEvidence(
        product_id=product_id,
        reviews=len(reviews),
        mean_rating=sum(ratings) / len(ratings) if ratings else None,
        aspects=aspects,
        key_phrases=tuple(p for p, _ in all_phrases.most_common(max_phrases)),
    )


__all__ = ["Review", "clauses", "extract", "polarity"]
