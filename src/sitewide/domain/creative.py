"""Ad creatives: the brand kit, the facts a creative may state, and the checks every creative passes before use.

Pure logic, no I/O. A creative is a title plus a few selling points (and optionally a banner) for one product in
one language. Before a creative can be served it is checked against one table of named rules (:data:`RULES`):
banned words and claims (the shop's brand kit plus the platform's list), length, required brand terms, every
price or discount it quotes against the catalogue, every product aspect it praises against the review evidence
(or a catalogue attribute), and the language. A rejected creative names each rule it broke and the words that
broke it.

The platform's banned words follow the absolute terms that China's Advertising Law (art. 9, as applied by SAMR
guidance) forbids — 最/第一/国家级/顶级 … — and their English counterparts (best, #1, guaranteed, cure).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from sitewide.domain.types import ValidationError


class Lang(StrEnum):
    EN = "en"
    ZH = "zh"


class Angle(StrEnum):
    """What a creative leads with (template families; an LLM's drafts are ``llm``)."""

    ATTRIBUTE = "attribute"
    REVIEW = "review"
    PRICE = "price"
    BRAND = "brand"
    LLM = "llm"


HEX_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")


@dataclass(frozen=True, slots=True)
class BrandKit:
    """A shop's rules for its creatives; append-only versions (``version`` = previous + 1 on each change)."""

    shop_id: str
    version: int = 1
    tone_words: tuple[str, ...] = ()
    banned_words: tuple[str, ...] = ()
    banned_claims: tuple[str, ...] = ()
    required_terms: tuple[str, ...] = ()  # must appear in every title (usually the brand name)
    colours: tuple[str, ...] = ("#1f3a5f", "#ffffff")  # primary (text box), secondary (text); "#rrggbb"
    logo_text: str = ""
    fonts: tuple[str, ...] = ()  # font file names tried in order; Pillow's default font when none loads

    def __post_init__(self) -> None:
        if not self.shop_id:
            raise ValidationError("brand kit needs a shop_id")
        if self.version < 1:
            raise ValidationError("brand kit version must be ≥ 1")
        bad = [c for c in self.colours if not HEX_COLOUR.match(c)]
        if bad or len(self.colours) < 2:
            raise ValidationError(f"brand kit colours must be ≥ 2 '#rrggbb' values, got {list(self.colours)}")
        for name in ("tone_words", "banned_words", "banned_claims", "required_terms"):
            if any(not w.strip() for w in getattr(self, name)):
                raise ValidationError(f"brand kit {name} must not contain empty strings")


@dataclass(frozen=True, slots=True)
class ProductFacts:
    """What the catalogue says about a product: the only source a price or discount claim may quote."""

    product_id: str
    shop_id: str
    title: str
    brand: str
    category: str
    price_micros: int
    list_price_micros: int | None = None  # the undiscounted price, when the catalogue has one
    attributes: tuple[tuple[str, str], ...] = ()  # (name, value), e.g. ("功效", "补水")
    currency: str = "USD"

    def discount_pct(self) -> int | None:
        """Whole-percent discount of ``price`` against ``list_price`` (None without a real discount)."""
        lp = self.list_price_micros
        if lp is None or lp <= self.price_micros or lp <= 0:
            return None
        return round(100 * (lp - self.price_micros) / lp)


@dataclass(frozen=True, slots=True)
class AspectEvidence:
    """How reviewers talk about one aspect of a product (from :mod:`sitewide.creative.extract`)."""

    aspect: str
    positive: int
    negative: int
    phrases: tuple[str, ...] = ()  # short quoted phrases, best first

    @property
    def mentions(self) -> int:
        return self.positive + self.negative

    @property
    def positive_share(self) -> float:
        return self.positive / self.mentions if self.mentions else 0.0


@dataclass(frozen=True, slots=True)
class ReviewEvidence:
    product_id: str
    reviews: int
    mean_rating: float | None
    aspects: tuple[AspectEvidence, ...] = ()
    key_phrases: tuple[str, ...] = ()

    def aspect(self, key: str) -> AspectEvidence | None:
        return next((a for a in self.aspects if a.aspect == key), None)


@dataclass(frozen=True, slots=True)
class CopyRequest:
    """Everything a :class:`~sitewide.ports.TextGenerator` gets for one product and language."""

    facts: ProductFacts
    evidence: ReviewEvidence
    kit: BrandKit
    lang: Lang
    n: int = 4


@dataclass(frozen=True, slots=True)
class CopyDraft:
    """A generated title and selling points, not yet checked."""

    title: str
    points: tuple[str, ...]
    lang: Lang
    angle: Angle
    source: str  # "offline" or the backend's name


@dataclass(frozen=True, slots=True)
class Violation:
    rule: str
    detail: str


@dataclass(frozen=True, slots=True)
class CheckResult:
    passed: bool
    violations: tuple[Violation, ...] = ()

    @property
    def rules(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(v.rule for v in self.violations))


@dataclass(frozen=True, slots=True)
class Creative:
    """A checked draft. Only ``check.passed`` creatives may be served (the rotation refuses the others)."""

    id: str
    product_id: str
    shop_id: str
    kit_version: int
    draft: CopyDraft
    check: CheckResult
    banner: str | None = None  # file name of the composed banner, when one was made


# --- aspects: one lexicon for extraction (what reviews praise) and checks (what copy claims) ---------
@dataclass(frozen=True, slots=True)
class Aspect:
    key: str
    en: str  # label used in English copy
    zh: str  # label used in Chinese copy
    en_terms: tuple[str, ...]  # words that mention it (lower case, matched on word boundaries)
    zh_terms: tuple[str, ...]


ASPECTS: tuple[Aspect, ...] = (
    Aspect("fit", "fit", "版型", ("fit", "fits", "fitted", "true to size", "tts"), ("版型", "合身")),
    Aspect("fabric", "fabric", "面料", ("fabric", "material", "cotton", "linen"), ("面料", "材质")),
    Aspect("softness", "softness", "柔软", ("soft", "softness", "silky", "cozy", "cosy"), ("柔软", "软糯")),
    Aspect("comfort", "comfort", "舒适", ("comfortable", "comfy", "comfort"), ("舒适", "舒服")),
    Aspect("colour", "colour", "颜色", ("color", "colour", "colors", "colours"), ("颜色", "配色")),
    Aspect("flattering", "flattering cut", "显瘦", ("flattering", "slimming"), ("显瘦", "修身")),
    Aspect("quality", "quality", "品质", ("quality", "well made", "well-made"), ("品质", "质量", "做工")),
    Aspect(
        "style",
        "style",
        "款式",
        ("style", "stylish", "design", "cute", "pretty", "beautiful"),
        ("款式", "设计"),
    ),
    Aspect("length", "length", "长度", ("length",), ("长度",)),
    Aspect("value", "value", "性价比", ("value", "worth"), ("性价比", "实惠")),
    Aspect("warmth", "warmth", "保暖", ("warm", "warmth"), ("保暖",)),
    Aspect("lightweight", "light weight", "轻薄", ("lightweight", "light weight", "airy"), ("轻薄",)),
    Aspect("breathable", "breathability", "透气", ("breathable",), ("透气",)),
    Aspect("waterproof", "waterproofing", "防水", ("waterproof", "water-resistant"), ("防水",)),
    Aspect("durable", "durability", "耐用", ("durable", "long-lasting", "long lasting"), ("耐用", "结实")),
    Aspect(
        "moisturising", "moisture", "补水", ("moisturizing", "moisturising", "hydrating"), ("补水", "保湿")
    ),
    Aspect("repair", "repair", "修复", ("repairing", "repair"), ("修复",)),
    Aspect("sound", "sound", "音质", ("sound", "audio"), ("音质",)),
)
ASPECT_BY_KEY = {a.key: a for a in ASPECTS}


def _word_re(terms: tuple[str, ...]) -> re.Pattern[str]:
    alts = "|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True))
    return re.compile(rf"(?<![a-z])(?:{alts})(?![a-z])", re.IGNORECASE)


_EN_ASPECT_RE = {a.key: _word_re(a.en_terms + (a.en,)) for a in ASPECTS}


def aspects_in(text: str) -> tuple[str, ...]:
    """Aspect keys a text mentions (English words on word boundaries, Chinese terms as substrings)."""
    out = []
    for a in ASPECTS:
        if _EN_ASPECT_RE[a.key].search(text) or any(t in text for t in (*a.zh_terms, a.zh)):
            out.append(a.key)
    return tuple(out)


# --- prices and discounts quoted in copy ---------------------------------------------------------
_NUM = r"(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d{1,2}))?"
PRICE_RE = re.compile(
    rf"(?:(?:US\$|\$|¥|￥|RMB\s?|USD\s?|CNY\s?){_NUM})|(?:{_NUM}\s?(?:元|块|dollars?\b|USD\b|CNY\b))",
    re.IGNORECASE,
)
PCT_OFF_RE = re.compile(r"(\d{1,3})\s?%\s?(?:off|discount|折扣|优惠)", re.IGNORECASE)
ZH_FOLD_RE = re.compile(r"(?<![\d.])([1-9](?:\.\d)?)\s?折")  # 8折 = 20 % off, 8.5折 = 15 % off


def _to_micros(whole: str, frac: str | None) -> int:
    try:
        v = Decimal(whole.replace(",", "") + "." + (frac or "0"))
    except InvalidOperation:  # pragma: no cover - the regex admits only digits
        return -1
    return int(v * 1_000_000)


def prices_in(text: str) -> tuple[int, ...]:
    """Every price the text quotes, in micros (``$12.99``, ``¥99``, ``99元``, ``12 dollars``)."""
    out = []
    for m in PRICE_RE.finditer(text):
        g = m.groups()
        whole, frac = (g[0], g[1]) if g[0] is not None else (g[2], g[3])
        out.append(_to_micros(whole, frac))
    return tuple(out)


def discounts_in(text: str) -> tuple[int, ...]:
    """Every percent discount the text claims (``20% off``, ``8折`` = 20)."""
    out = [int(m.group(1)) for m in PCT_OFF_RE.finditer(text)]
    out += [round(100 - 10 * float(m.group(1))) for m in ZH_FOLD_RE.finditer(text)]
    return tuple(out)


# --- the rules -------------------------------------------------------------------------------------
PLATFORM_BANNED: tuple[str, ...] = (
    "最", "第一", "唯一", "国家级", "顶级", "极品", "万能", "100%", "best", "#1", "number one",
    "guaranteed", "cure", "miracle", "world-class", "cheapest",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class CheckPolicy:
    """Thresholds of the checks. Lengths: Taobao caps titles at 30 Chinese characters (60 bytes); Amazon's
    title guideline is ≤ 80 characters for most categories; selling points are kept to one line of a card."""

    platform_banned: tuple[str, ...] = PLATFORM_BANNED
    max_title: dict[Lang, int] = field(default_factory=lambda: {Lang.EN: 80, Lang.ZH: 30})
    max_point: dict[Lang, int] = field(default_factory=lambda: {Lang.EN: 90, Lang.ZH: 40})
    min_title: int = 4
    max_points: int = 4
    # an aspect may be praised only when ≥ this many reviews mention it and ≥ this share of them positively
    min_mentions: int = 2
    min_positive_share: float = 0.6


Rule = Callable[[CopyDraft, ProductFacts, ReviewEvidence, BrandKit, CheckPolicy], list[str]]


def _texts(d: CopyDraft) -> tuple[str, ...]:
    return (d.title, *d.points)


def _hits(text: str, words: tuple[str, ...]) -> list[str]:
    """Words found in ``text``: Latin words on word boundaries (``cure`` is not in ``secure``), others as
    substrings (Chinese has no spaces)."""
    low = text.lower()
    out = []
    for w in words:
        lw = w.lower()
        if lw.isascii():
            if re.search(rf"(?<![a-z0-9]){re.escape(lw)}(?![a-z0-9])", low):
                out.append(w)
        elif lw in low:
            out.append(w)
    return out


def rule_banned_word(
    d: CopyDraft, f: ProductFacts, e: ReviewEvidence, k: BrandKit, p: CheckPolicy
) -> list[str]:
    words = p.platform_banned + k.banned_words
    return [f"'{w}' in '{t}'" for t in _texts(d) for w in _hits(t, words)]


def rule_banned_claim(
    d: CopyDraft, f: ProductFacts, e: ReviewEvidence, k: BrandKit, p: CheckPolicy
) -> list[str]:
    return [f"claim '{w}' in '{t}'" for t in _texts(d) for w in _hits(t, k.banned_claims)]


def rule_length(d: CopyDraft, f: ProductFacts, e: ReviewEvidence, k: BrandKit, p: CheckPolicy) -> list[str]:
    out = []
    if not p.min_title <= len(d.title) <= p.max_title[d.lang]:
        out.append(f"title has {len(d.title)} characters, allowed {p.min_title}..{p.max_title[d.lang]}")
    if not 1 <= len(d.points) <= p.max_points:
        out.append(f"{len(d.points)} selling points, allowed 1..{p.max_points}")
    out += [
        f"selling point has {len(t)} characters, limit {p.max_point[d.lang]}: '{t}'"
        for t in d.points
        if not 1 <= len(t) <= p.max_point[d.lang]
    ]
    return out


def rule_required_term(
    d: CopyDraft, f: ProductFacts, e: ReviewEvidence, k: BrandKit, p: CheckPolicy
) -> list[str]:
    return [f"title lacks '{w}'" for w in k.required_terms if w.lower() not in d.title.lower()]


def rule_price(d: CopyDraft, f: ProductFacts, e: ReviewEvidence, k: BrandKit, p: CheckPolicy) -> list[str]:
    allowed = {f.price_micros} | ({f.list_price_micros} if f.list_price_micros else set())
    allowed_save = (
        {f.list_price_micros - f.price_micros} if f.discount_pct() and f.list_price_micros else set()
    )
    return [
        f"quotes {m / 1e6:.2f}, catalogue price is {f.price_micros / 1e6:.2f}"
        for t in _texts(d)
        for m in prices_in(t)
        if m not in allowed | allowed_save
    ]


def rule_discount(d: CopyDraft, f: ProductFacts, e: ReviewEvidence, k: BrandKit, p: CheckPolicy) -> list[str]:
    real = f.discount_pct()
    return [
        f"claims {pct}% off, catalogue discount is {real or 0}%"
        for t in _texts(d)
        for pct in discounts_in(t)
        if real is None or abs(pct - real) > 1
    ]


def rule_supported(
    d: CopyDraft, f: ProductFacts, e: ReviewEvidence, k: BrandKit, p: CheckPolicy
) -> list[str]:
    attrs = " ".join(f"{a} {v}" for a, v in f.attributes) + f" {f.title} {f.category}"
    out = []
    for key in dict.fromkeys(a for t in _texts(d) for a in aspects_in(t)):
        if key in aspects_in(attrs):
            continue  # the catalogue itself states it
        ev = e.aspect(key)
        if ev is None or ev.mentions < p.min_mentions or ev.positive_share < p.min_positive_share:
            seen = f"{ev.positive}/{ev.mentions} positive mentions" if ev else "no mentions"
            out.append(f"'{key}' is not supported by the reviews ({seen})")
    return out


_CJK = re.compile(r"[\u4e00-\u9fff]")


def rule_language(d: CopyDraft, f: ProductFacts, e: ReviewEvidence, k: BrandKit, p: CheckPolicy) -> list[str]:
    cjk = sum(len(_CJK.findall(t)) for t in _texts(d))
    if d.lang is Lang.ZH and cjk == 0:
        return ["Chinese creative without Chinese text"]
    if d.lang is Lang.EN and cjk > 0:
        return [f"English creative with {cjk} Chinese characters"]
    return []


RULES: tuple[tuple[str, Rule], ...] = (
    ("banned_word", rule_banned_word),
    ("banned_claim", rule_banned_claim),
    ("length", rule_length),
    ("required_term", rule_required_term),
    ("price_mismatch", rule_price),
    ("discount_mismatch", rule_discount),
    ("unsupported_claim", rule_supported),
    ("language", rule_language),
)


def check_draft(
    draft: CopyDraft,
    facts: ProductFacts,
    evidence: ReviewEvidence,
    kit: BrandKit,
    policy: CheckPolicy | None = None,
) -> CheckResult:
    """Run every rule of :data:`RULES`; the creative passes when none fires."""
    pol = policy or CheckPolicy()
    violations = tuple(
        Violation(name, detail) for name, rule in RULES for detail in rule(draft, facts, evidence, kit, pol)
    )
    return CheckResult(passed=not violations, violations=violations)


__all__ = [
    "ASPECTS",
    "ASPECT_BY_KEY",
    "Angle",
    "Aspect",
    "AspectEvidence",
    "BrandKit",
    "CheckPolicy",
    "CheckResult",
    "CopyDraft",
    "CopyRequest",
    "Creative",
    "Lang",
    "ProductFacts",
    "RULES",
    "ReviewEvidence",
    "Violation",
    "aspects_in",
    "check_draft",
    "discounts_in",
    "prices_in",
]
