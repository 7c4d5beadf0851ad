"""Rules over a merchant's campaigns: an over-high target starving spend, a budget spent early in the day, a
target the campaign keeps missing. Pure."""

from __future__ import annotations

from decimal import Decimal

from sitewide.agent.thresholds import (
    Thresholds,
    day_cite,
    forecast_effect,
    hour,
    suggestion_id,
    yuan,
)
from sitewide.agent.types import (
    Action,
    ActionKind,
    Citation,
    Effect,
    Finding,
    FindingKind,
    MerchantFacts,
    Suggestion,
)
from sitewide.domain.time import HOUR_MS


def target_too_high(f: MerchantFacts, t: Thresholds) -> list[Finding]:
    out: list[Finding] = []
    if f.market_roi is None or f.market_roi <= 0:
        return out
    for c in f.campaigns:
        d = c.day(f.day)
        if not c.active or d is None or c.daily_budget_micros <= 0:
            continue
        use = d.spend_micros / c.daily_budget_micros
        if use >= t.starved_budget_use or c.target_roi < t.target_over_market * f.market_roi:
            continue
        new_target = round(max(f.market_roi, 0.1), 1)
        eff = forecast_effect(f, c, new_target, c.daily_budget_micros) or Effect(
            int((c.daily_budget_micros * 0.5 - d.spend_micros) * new_target),
            int(c.daily_budget_micros * 0.5 - d.spend_micros),
            "own reports",
            f"assumes half the budget is spent at ROI {new_target:g} (no forecast available)",
        )
        cites = (
            day_cite(c, f.day),
            Citation("report:market", ("median_campaign_day_roi",), (("roi", f"{f.market_roi:.2f}"),)),
        ) + (
            (Citation("auction_losses", (c.id, f.day), tuple((r, str(n)) for r, n in c.losses[:3])),)
            if c.losses
            else ()
        )
        s = Suggestion(
            suggestion_id(FindingKind.TARGET_TOO_HIGH, c.id, f.day),
            Action(ActionKind.SET_TARGET_ROI, campaign_id=c.id, target_roi=str(Decimal(str(new_target)))),
            eff,
            f"Lower the target ROI of {c.name} from {c.target_roi:g} to {new_target:g}",
            f"将 {c.name} 的目标 ROI 从 {c.target_roi:g} 调低到 {new_target:g}",
        )
        out.append(
            Finding(
                FindingKind.TARGET_TOO_HIGH,
                c.id,
                "high",
                f"Campaign {c.name} spent {yuan(d.spend_micros)} of its {yuan(c.daily_budget_micros)} budget on "
                f"{f.day} ({use:.0%}): its target ROI {c.target_roi:g} is {c.target_roi / f.market_roi:.1f}× "
                f"what the market's campaigns realise ({f.market_roi:.2f}), so its bids lose most auctions.",
                f"推广计划 {c.name} 在 {f.day} 只花了预算 {yuan(c.daily_budget_micros)} 中的 "
                f"{yuan(d.spend_micros)}（{use:.0%}）：目标 ROI {c.target_roi:g} 是市场实际 ROI "
                f"（{f.market_roi:.2f}）的 {c.target_roi / f.market_roi:.1f} 倍，出价在大多数竞价中落败。",
                cites,
                s,
            )
        )
    return out


def budget_exhausted(f: MerchantFacts, t: Thresholds) -> list[Finding]:
    out = []
    for c in f.campaigns:
        d = c.day(f.day)
        at = c.exhausted_at_ms
        if not c.active or d is None or at is None or at >= t.exhausted_before_hour * HOUR_MS:
            continue
        hours = max(at / HOUR_MS, 1.0)
        raise_to = min(t.max_budget_raise, 24.0 / hours)
        new_budget = int(c.daily_budget_micros * raise_to) // 1_000_000 * 1_000_000
        extra = new_budget - c.daily_budget_micros
        roi = d.roi or 0.0
        donor = next(
            (
                o
                for o in f.campaigns
                if o.id != c.id
                and o.active
                and (od := o.day(f.day)) is not None
                and od.spend_micros < 0.5 * o.daily_budget_micros
            ),
            None,
        )
        cites = [
            day_cite(c, f.day),
            Citation("events:clicks", (c.id, f.day), (("budget_95pct_spent_at", hour(at)),)),
        ]
        if donor is not None:
            od = donor.day(f.day)
            assert od is not None
            amount = min(extra, (donor.daily_budget_micros - od.spend_micros) // 2)
            action = Action(
                ActionKind.MOVE_BUDGET, campaign_id=c.id, from_campaign_id=donor.id, amount_micros=amount
            )
            cites.append(day_cite(donor, f.day))
            extra = amount
            title = (
                f"Move {yuan(amount)} of daily budget from {donor.name} to {c.name}",
                f"把 {donor.name} 的 {yuan(amount)} 日预算移给 {c.name}",
            )
        else:
            action = Action(ActionKind.SET_BUDGET, campaign_id=c.id, daily_budget_micros=new_budget)
            title = (
                f"Raise the daily budget of {c.name} from {yuan(c.daily_budget_micros)} to {yuan(new_budget)}",
                f"将 {c.name} 的日预算从 {yuan(c.daily_budget_micros)} 提高到 {yuan(new_budget)}",
            )
        eff = forecast_effect(f, c, c.target_roi, c.daily_budget_micros + extra) or Effect(
            int(extra * roi),
            extra,
            "own reports",
            f"extra spend at {f.day}'s realised ROI {roi:.2f} (an upper bound: returns diminish)",
        )
        out.append(
            Finding(
                FindingKind.BUDGET_EXHAUSTED,
                c.id,
                "high" if roi >= c.target_roi else "medium",
                f"Campaign {c.name} had spent 95 % of its {yuan(c.daily_budget_micros)} budget by {hour(at)} "
                f"UTC on {f.day}, at ROI {roi:.2f} (target {c.target_roi:g}): it sat out the rest of the day.",
                f"推广计划 {c.name} 在 {f.day} 的 {hour(at)}（UTC）前已花掉 {yuan(c.daily_budget_micros)} 预算的 "
                f"95%，当日 ROI {roi:.2f}（目标 {c.target_roi:g}），之后全天无法参与竞价。",
                tuple(cites),
                Suggestion(suggestion_id(FindingKind.BUDGET_EXHAUSTED, c.id, f.day), action, eff, *title),
            )
        )
    return out


def target_too_low(f: MerchantFacts, t: Thresholds) -> list[Finding]:
    out = []
    for c in f.campaigns:
        spend = sum(d.spend_micros for d in c.days)
        gmv = sum(d.gmv_micros for d in c.days)
        orders = sum(d.orders for d in c.days)
        today = c.day(f.day)
        if not c.active or spend <= 0 or orders < t.target_miss_min_orders or today is None:
            continue
        if today.spend_micros < t.starved_budget_use * c.daily_budget_micros:
            continue  # a starved campaign misses its target for want of volume, not by overbidding
        roi = gmv / spend
        if roi * t.target_miss_ratio >= c.target_roi:
            continue
        new_target = round(c.target_roi * 1.2, 1)
        eff = forecast_effect(f, c, new_target, c.daily_budget_micros) or Effect(
            0, -spend // max(len(c.days), 1) // 5, "own reports", "bids fall by about 1/6; spend with them"
        )
        wins = tuple(
            Citation(
                "statement:guarantee_window",
                (w.campaign_id, w.judged.window),
                (("roi", f"{w.judged.roi or 0:.2f}"),),
            )
            for w in f.windows
            if w.campaign_id == c.id and w.judged.triggered
        )
        out.append(
            Finding(
                FindingKind.TARGET_TOO_LOW,
                c.id,
                "medium",
                f"Campaign {c.name} realised ROI {roi:.2f} over {len(c.days)} settled day(s) against target "
                f"{c.target_roi:g} ({orders} orders).",
                f"推广计划 {c.name} 在 {len(c.days)} 个已结算日的实际 ROI 为 {roi:.2f}，低于目标 {c.target_roi:g}"
                f"（{orders} 单）。",
                tuple(day_cite(c, d.day) for d in c.days[-3:]) + wins,
                Suggestion(
                    suggestion_id(FindingKind.TARGET_TOO_LOW, c.id, f.day),
                    Action(
                        ActionKind.SET_TARGET_ROI, campaign_id=c.id, target_roi=str(Decimal(str(new_target)))
                    ),
                    eff,
                    f"Raise the target ROI of {c.name} to {new_target:g}",
                    f"将 {c.name} 的目标 ROI 提高到 {new_target:g}",
                ),
            )
        )
    return out
