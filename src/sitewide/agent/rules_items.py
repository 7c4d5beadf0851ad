"""Rules over a merchant's products, creatives and shops: a best seller out of the pool, a pinned creative that
loses, a shop-score factor that drags delivery down. Pure."""

from __future__ import annotations

import math

from sitewide.agent.thresholds import Thresholds, suggestion_id, yuan
from sitewide.agent.types import (
    Action,
    ActionKind,
    Citation,
    CreativeFacts,
    Effect,
    Finding,
    FindingKind,
    MerchantFacts,
    ProductFacts,
    Suggestion,
)

_RULE_FIX = {
    "stock": ("restock it (stock ≥ 1)", "补充库存（库存 ≥ 1）"),
    "rating": (
        "raise its rating (answer the low reviews, fix the product)",
        "提升评分（处理差评、改进商品）",
    ),
    "return_rate": ("bring its return rate under the limit", "把退货率降到限额以下"),
    "price_competitiveness": ("price it within the category's limit", "把价格调到类目限额以内"),
    "shop_score_floor": ("raise the shop's experience score", "提升店铺体验分"),
    "banned_category": ("correct its category", "更正类目"),
    "popularity": ("appeal: sales figures lag a recent restock", "申诉：销量数据滞后"),
}
_APPEALABLE = ("popularity", "price_competitiveness")


def ineligible_best_seller(f: MerchantFacts, t: Thresholds) -> list[Finding]:
    total = sum(p.gmv_before_micros for p in f.products)
    orders = sum(p.orders_before for p in f.products)
    best = best_product(f.products)
    if (
        best is None
        or total <= 0
        or best.eligible
        or best.orders_before < max(t.best_seller_min_orders, t.best_seller_share * orders)
    ):
        return []
    fail = best.failures[0] if best.failures else None
    rule = fail.rule if fail else "unknown"
    per_day = best.gmv_before_micros // max(best.days_before, 1)
    eff = Effect(
        per_day - best.gmv_day_micros,
        0,
        "own reports",
        f"its promoted GMV per day over the {best.days_before} settled day(s) before {f.day}",
    )
    fix_en, fix_zh = _RULE_FIX.get(rule, ("fix the failing rule", "修正未通过的规则"))
    if rule in _APPEALABLE and best.id not in f.open_appeals:
        action = Action(
            ActionKind.APPEAL,
            product_id=best.id,
            factor=rule,
            message=f"{best.title}: {fail.message if fail else ''} — a best seller; please review.",
        )
        title = (f"Appeal the pool decision on {best.title}", f"对 {best.title} 的入池结果提出申诉")
    else:
        action = Action(ActionKind.FIX_FACTOR, product_id=best.id, factor=rule)
        title = (f"{best.title}: {fix_en}", f"{best.title}：{fix_zh}")
    cites = (
        Citation(
            "eligibility",
            (best.id,),
            (("eligible", "false"),) + tuple((x.rule, x.message) for x in best.failures),
        ),
        Citation(
            "report:product",
            (best.id, f"before {f.day}"),
            (
                ("gmv", yuan(best.gmv_before_micros)),
                ("orders", str(best.orders_before)),
                ("share_of_merchant_gmv", f"{best.gmv_before_micros / total:.0%}"),
            ),
        ),
    )
    return [
        Finding(
            FindingKind.INELIGIBLE_BEST_SELLER,
            best.id,
            "high",
            f"Your best seller {best.title} ({best.gmv_before_micros / total:.0%} of promoted GMV before {f.day}) "
            f"is out of the promotion pool: {fail.message if fail else 'a rule failed'}.",
            f"您的畅销品 {best.title}（{f.day} 之前推广 GMV 的 {best.gmv_before_micros / total:.0%}）"
            f"已被移出推广池：{fail.message if fail else '规则未通过'}。",
            cites,
            Suggestion(
                suggestion_id(FindingKind.INELIGIBLE_BEST_SELLER, best.id, f.day), action, eff, *title
            ),
        )
    ]


def _z(p: CreativeFacts, s: CreativeFacts) -> float:
    """Two-proportion z of ``s``'s CTR over ``p``'s (positive: ``s`` clicks more)."""
    pool = (p.clicks + s.clicks) / (p.impressions + s.impressions)
    se = math.sqrt(max(pool * (1 - pool), 1e-12) * (1 / p.impressions + 1 / s.impressions))
    return (s.clicks / s.impressions - p.clicks / p.impressions) / se


def losing_creative(f: MerchantFacts, t: Thresholds) -> list[Finding]:
    """A pinned creative against each sibling: per placement a two-proportion z of CTRs, combined over the
    placements where both have ≥ ``creative_min_impressions`` (Stouffer: Σz / √k); loses at ≥ ``creative_z``."""
    out = []
    by: dict[str, list[CreativeFacts]] = {}
    for cr in f.creatives:
        by.setdefault(cr.product_id, []).append(cr)
    gmv_click = _gmv_per_click(f)
    days = max(1, max((len(c.days) for c in f.campaigns), default=1))
    n = t.creative_min_impressions
    for pid, arms in by.items():
        pinned = {a.creative_id for a in arms if a.pinned}
        for pc in pinned:
            best: tuple[float, str, list[tuple[CreativeFacts, CreativeFacts]]] | None = None
            for sc in {a.creative_id for a in arms} - pinned:
                pairs = [
                    (p, s)
                    for p in arms
                    if p.creative_id == pc and p.impressions >= n
                    for s in arms
                    if s.creative_id == sc and s.placement == p.placement and s.impressions >= n
                ]
                if pairs:
                    z = sum(_z(p, s) for p, s in pairs) / math.sqrt(len(pairs))
                    if best is None or z > best[0]:
                        best = (z, sc, pairs)
            if best is None or best[0] < t.creative_z:
                continue
            z, sc, pairs = best
            extra_clicks = (
                sum(
                    p.impressions * max(s.clicks / s.impressions - p.clicks / p.impressions, 0.0)
                    for p, s in pairs
                )
                / days
            )
            eff = Effect(
                int(extra_clicks * gmv_click),
                0,
                "own reports",
                f"{extra_clicks:.1f} more clicks a day at the winner's CTR × GMV per click {yuan(gmv_click)}",
            )
            cites = tuple(
                Citation(
                    "creative_stats",
                    (pid, x.creative_id, x.placement),
                    (
                        ("impressions", str(x.impressions)),
                        ("clicks", str(x.clicks)),
                        ("ctr", f"{x.clicks / x.impressions:.4f}"),
                        ("pinned", "true" if x.pinned else "false"),
                    ),
                )
                for pair in pairs
                for x in pair
            )
            p0, s0 = pairs[0]
            cp = sum(p.clicks for p, _ in pairs) / max(sum(p.impressions for p, _ in pairs), 1)
            cs = sum(s.clicks for _, s in pairs) / max(sum(s.impressions for _, s in pairs), 1)
            out.append(
                Finding(
                    FindingKind.LOSING_CREATIVE,
                    pc,
                    "medium",
                    f"Creative {pc} is pinned on product {pid} with CTR {cp:.2%}, while {sc} earned {cs:.2%} "
                    f"where both were shown (z = {z:.1f}).",
                    f"商品 {pid} 固定展示的创意 {pc} 点击率 {cp:.2%}，而 {sc} 在相同位置为 {cs:.2%}（z = {z:.1f}）。",
                    cites,
                    Suggestion(
                        suggestion_id(FindingKind.LOSING_CREATIVE, pc, f.day),
                        Action(ActionKind.PIN_CREATIVE, product_id=pid, creative_id=None),
                        eff,
                        f"Stop pinning creative {pc} (the rotation will favour {sc})",
                        f"停止固定创意 {pc}（轮播将偏向 {sc}）",
                    ),
                )
            )
    return out


def _gmv_per_click(f: MerchantFacts) -> float:
    clicks = sum(d.clicks for c in f.campaigns for d in c.days)
    gmv = sum(d.gmv_micros for c in f.campaigns for d in c.days)
    return gmv / clicks if clicks else 0.0


def shop_score_factor(f: MerchantFacts, t: Thresholds) -> list[Finding]:
    out = []
    gmv_day = sum(d.gmv_micros for c in f.campaigns if (d := c.day(f.day)) is not None)
    for shop in f.shops:
        if (s := shop.score) is None:
            continue
        factors = [x for x in s.factors if x.weight > 0]  # a missing factor weighs 0
        if s.multiplier >= t.shop_multiplier_below or not factors:
            continue
        worst = max(factors, key=lambda x: x.weight * (100.0 - x.sub_score))
        if worst.sub_score >= t.factor_sub_below:
            continue
        gain = (1.0 / max(s.multiplier, 1e-6) - 1.0) * gmv_day
        raw = "-" if worst.raw is None else f"{worst.raw:g}"
        out.append(
            Finding(
                FindingKind.SHOP_SCORE_FACTOR,
                s.shop_id,
                "high" if s.multiplier <= 0.9 else "medium",
                f"Shop {s.shop_id} scores {s.score:.0f}/100, so its ads' auction scores are multiplied by "
                f"{s.multiplier:.2f}; the factor that costs most is {worst.name} (value {raw}, sub-score "
                f"{worst.sub_score:.0f}).",
                f"店铺 {s.shop_id} 体验分 {s.score:.0f}/100，广告竞价得分被乘以 {s.multiplier:.2f}；"
                f"拖分最多的是 {worst.name}（数值 {raw}，子分 {worst.sub_score:.0f}）。",
                (
                    Citation(
                        "shop_score",
                        (s.shop_id,),
                        (("score", f"{s.score:.1f}"), ("multiplier", f"{s.multiplier:.3f}"))
                        + tuple((x.name, f"{x.sub_score:.0f}") for x in factors),
                    ),
                ),
                Suggestion(
                    suggestion_id(FindingKind.SHOP_SCORE_FACTOR, s.shop_id, f.day),
                    Action(ActionKind.FIX_FACTOR, shop_id=s.shop_id, factor=worst.name),
                    Effect(
                        int(gain),
                        0,
                        "own reports",
                        f"{f.day}'s promoted GMV scaled by 1 / multiplier (a neutral score, 80, multiplies by "
                        "1.00); an upper bound",
                    ),
                    f"Improve {worst.name} of shop {s.shop_id}",
                    f"改善店铺 {s.shop_id} 的 {worst.name}",
                ),
            )
        )
    return out


def best_product(products: tuple[ProductFacts, ...]) -> ProductFacts | None:
    """The best seller: most promoted orders before the day (then GMV, then id)."""
    return max(products, key=lambda p: (p.orders_before, p.gmv_before_micros, p.id)) if products else None
