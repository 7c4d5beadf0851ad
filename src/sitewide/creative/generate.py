"""The offline copy generator: review evidence and catalogue attributes poured into templates (en, zh).

One draft per angle (:class:`~sitewide.domain.creative.Angle`): brand (tone word + brand + product noun),
attribute (catalogue attributes), review (the best-supported aspects, with their counts), price (the catalogue
price, and the markdown when the catalogue has a list price). It only states what the facts and the evidence
hold, so its drafts usually pass the checks; when they do not (a long product noun, a praised aspect whose
phrase also names an unsupported one) the check says why and the draft is not served.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from sitewide.domain.creative import (
    ASPECT_BY_KEY,
    Angle,
    AspectEvidence,
    CopyDraft,
    CopyRequest,
    Lang,
    ProductFacts,
)

NOUN_ZH = {
    "Dresses": "连衣裙", "Knits": "针织衫", "Blouses": "衬衫", "Sweaters": "毛衣", "Pants": "长裤", "Jeans": "牛仔裤",
    "Skirts": "半身裙", "Jackets": "夹克", "Fine gauge": "细针织衫", "Shorts": "短裤", "Lounge": "家居服",
    "Outerwear": "外套", "Intimates": "内衣", "Swim": "泳装", "Sleep": "睡衣", "Legwear": "袜裤", "Trend": "潮流单品",
    "Layering": "打底衫", "Casual bottoms": "休闲裤", "Chemises": "吊带裙",
}  # fmt: skip
NOUN_EN = {
    "Dresses": "dress", "Knits": "knit top", "Blouses": "blouse", "Sweaters": "sweater", "Skirts": "skirt",
    "Jackets": "jacket", "Fine gauge": "fine-gauge knit", "Legwear": "tights", "Chemises": "chemise",
    "Casual bottoms": "casual pants",
}  # fmt: skip
TONE_ZH = {"effortless": "轻松", "timeless": "经典", "cozy": "温暖", "fresh": "清新", "bold": "出彩"}
CURRENCY = {"USD": "$", "CNY": "¥"}
_CJK = re.compile(r"[\u4e00-\u9fff]")


def _money(facts: ProductFacts, micros: int) -> str:
    sym = CURRENCY.get(facts.currency, facts.currency + " ")
    v = micros / 1_000_000
    return f"{sym}{v:.0f}" if v == int(v) else f"{sym}{v:.2f}"


def _noun(facts: ProductFacts, lang: Lang) -> str:
    if lang is Lang.ZH:
        if facts.category in NOUN_ZH:
            return NOUN_ZH[facts.category]
        prod = next((v for a, v in facts.attributes if a in ("产品", "护发用品", "类别")), "")
        return prod if _CJK.search(prod) else facts.category
    return NOUN_EN.get(facts.category, facts.category.lower() or "item")


def _supported(
    evidence_aspects: Sequence[AspectEvidence], min_mentions: int = 2, share: float = 0.6
) -> list[str]:
    ok = [a for a in evidence_aspects if a.mentions >= min_mentions and a.positive_share >= share]
    ok.sort(key=lambda a: (-a.positive, a.aspect))
    return [a.aspect for a in ok]


class OfflineGenerator:
    """The default :class:`~sitewide.ports.TextGenerator`: deterministic templates, no network."""

    name = "offline"

    def generate(self, req: CopyRequest) -> list[CopyDraft]:
        f, e, kit, lang = req.facts, req.evidence, req.kit, req.lang
        brand = f.brand or (kit.required_terms[0] if kit.required_terms else "")
        noun = _noun(f, lang)
        good = _supported(e.aspects)
        attrs = [(a, v) for a, v in f.attributes if v and a not in ("品牌", "型号", "division")]
        drafts: list[CopyDraft] = []

        def add(angle: Angle, title: str, points: list[str]) -> None:
            pts = tuple(dict.fromkeys(p for p in points if p))
            if pts:
                drafts.append(CopyDraft(title.strip(), pts[:3], lang, angle, self.name))

        if lang is Lang.EN:
            label = [ASPECT_BY_KEY[k].en for k in good]
            for tone in kit.tone_words[:2] or ("",):
                add(Angle.BRAND, f"{tone.title()} {brand} {noun}".strip(),
                    [f"{brand} {f.category.lower()}", *(f"Loved for its {x}" for x in label[:1])])  # fmt: skip
            if attrs:
                add(
                    Angle.ATTRIBUTE,
                    f"{brand} {noun} · {attrs[0][1]}",
                    [f"{a.title()}: {v}" for a, v in attrs[:3]],
                )
            else:  # the catalogue title itself, with its category
                add(Angle.ATTRIBUTE, f.title[:80], [f"{f.category.title()} by {brand}"])
            if good:
                ev = [e.aspect(k) for k in good[:2]]
                add(Angle.REVIEW, f"{brand} {noun} reviewers love for its {label[0]}",
                    [f"{a.positive} of {a.mentions} reviews praise the {ASPECT_BY_KEY[a.aspect].en}"
                     for a in ev if a] + [f'"{p}"' for p in e.key_phrases[:1] if len(p.split()) <= 4])  # fmt: skip
        else:
            if not _CJK.search(noun + brand + f.title):
                return []  # no Chinese name for the product: no Chinese copy (nothing is machine-translated)
            label = [ASPECT_BY_KEY[k].zh for k in good]
            tone = kit.tone_words[0] if kit.tone_words else ""
            tz = TONE_ZH.get(tone.lower(), tone if _CJK.search(tone) else "")
            add(Angle.BRAND, f"{brand}{tz}{noun}", [f"{brand}官方{noun}", *(f"{x}口碑好" for x in label[:1])])
            add(Angle.ATTRIBUTE, f"{brand}{noun} {attrs[0][1]}" if attrs else f"{brand}{noun}",
                [f"{a}：{v}" for a, v in attrs[:3]])  # fmt: skip
            if good:
                ev = [e.aspect(k) for k in good[:2]]
                add(Angle.REVIEW, f"{brand}{noun}｜{label[0]}好评",
                    [f"{a.mentions}条评价提到{ASPECT_BY_KEY[a.aspect].zh}，{a.positive}条称赞" for a in ev if a])  # fmt: skip
        # the price angle, last in both languages: the saving when discounted, else the price itself
        now, pct = _money(f, f.price_micros), f.discount_pct()
        if pct and f.list_price_micros:
            was = _money(f, f.list_price_micros)
            en = (f"{brand} {noun}, {pct}% off", f"Now {now}, was {was}")
            zh = (f"{brand}{noun} {_zh_fold(pct)}", f"到手价{now}，原价{was}")
        else:
            en = (f"{brand} {noun} for {now}", f"{now} at the {brand} shop")
            zh = (f"{brand}{noun} 到手价{now}", f"{brand}店铺价{now}")
        title, point = en if lang is Lang.EN else zh
        add(Angle.PRICE, title, [point])
        return drafts[: max(req.n, 1)]


def _zh_fold(pct: int) -> str:
    """A percent discount as a Chinese 折 (20 % off = 8折, 15 % off = 8.5折)."""
    fold = (100 - pct) / 10
    return f"{fold:.1f}折".replace(".0折", "折")


__all__ = ["OfflineGenerator"]
