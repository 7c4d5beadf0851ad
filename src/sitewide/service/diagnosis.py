"""What the console tells a merchant about a campaign, worked out from the engine's reports: alerts for the
campaign list (budget spent early, ROI below target, a product no longer eligible), what limits delivery now
with the number behind it and the one change that would help most, and the ROI guarantee's statement per
window (terms, the figures judged, amount due, credited and reversed).

Everything here returns typed rows with codes and numbers; the words come from the message catalogues
(:mod:`sitewide.i18n`) when a page renders them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sitewide.domain.eligibility import PoolChange
from sitewide.domain.guarantee import GuaranteeContract
from sitewide.domain.ledger import credit_account
from sitewide.domain.reports import CampaignDay, CampaignStatement, CampaignTotals
from sitewide.domain.time import DAY_MS, day_index, day_str
from sitewide.domain.types import Campaign, CampaignStatus
from sitewide.engine import Engine
from sitewide.i18n import Translator, format_money, format_time
from sitewide.ports import Store
from sitewide.service.reporting import report
from sitewide.service.usecases.catalogue import is_eligible

BUDGET_BOUND = 0.9  # a day that spent this share of its budget was limited by the budget
BID_LIMITED = ("outbid", "below_reserve")  # lost auctions a higher bid (a lower target ROI) would win
BUDGET_STEP = Decimal("1.5")  # suggested budget: this many times the current one
ROI_STEP = Decimal("0.8")  # suggested target ROI: this many times the current one
MAX_POOL_ALERTS = 3  # products named one by one in the pool's alerts (the rest in one line)
POOL_NEWS_MS = 7 * DAY_MS  # a product back in the pool is news for a week


@dataclass(frozen=True, slots=True)
class Alert:
    campaign_id: str
    name: str
    kind: str  # budget_early | roi_below | product_ineligible
    text: str
    bad: bool


@dataclass(frozen=True, slots=True)
class Limit:
    """One thing that limits delivery now: ``kind`` (budget, roi_target, eligibility, outbid, paused,
    roi_below, no_traffic) and the figure behind it in words."""

    kind: str
    figure: str


# which limit speaks first when several hold: a pause stops everything; a budget used up caps delivery whatever
# else holds; an ROI under the target is what the merchant is promised; then what keeps bids from winning;
# then products out of the pool (first when most of them are)
PRIORITY = (
    "paused",
    "budget",
    "roi_below",
    "eligibility_most",
    "roi_target",
    "outbid",
    "eligibility",
    "no_traffic",
)


@dataclass(frozen=True, slots=True)
class Diagnosis:
    limits: list[Limit]  # the first one speaks (PRIORITY)
    advice: str  # the one change that would help most
    primary: str | None  # the kind of the heaviest limit


@dataclass(frozen=True, slots=True)
class LossRow:
    product_id: str
    title: str
    reason: str
    count: int
    shortfall: str  # what the product lacked, in words ("" when nothing to quantify)


@dataclass(frozen=True, slots=True)
class WindowStatement:
    """One guarantee window: its terms, the figures judged, and the money."""

    window: str
    first_day: str
    last_day: str
    days: int
    target_roi: str
    trigger_roi: str  # the ROI under which the guarantee pays
    min_orders: int
    cap: str  # the cap in words
    spend_micros: int
    gmv_micros: int
    orders: int
    roi: float | None
    triggered: bool
    outcome: str  # why it paid or not, in words
    due_micros: int
    credited_micros: int
    reversed_micros: int


@dataclass(frozen=True, slots=True)
class GuaranteeView:
    terms: list[tuple[str, str]]  # (term, value) of the contract in force now
    windows: list[WindowStatement] = field(default_factory=list)


def _last_day(days: list[CampaignDay]) -> CampaignDay | None:
    return days[-1] if days else None


def campaign_alerts(
    t: Translator,
    currency: str,
    c: Campaign,
    days: list[CampaignDay],
    totals: CampaignTotals,
    ineligible: list[str],
    budget_losses_last_day: int,
    pool: PoolNews | None = None,
) -> list[Alert]:
    """Alerts for the campaign list: budget spent before the day ended, ROI below target, products of the
    campaign that left the pool (when and why) or came back lately, and those not eligible from the start."""
    out: list[Alert] = []
    last = _last_day(days)
    budget = int(c.daily_budget_micros)
    if last is not None and budget and (last.spend_micros >= 0.95 * budget or budget_losses_last_day > 0):
        text = t(
            "Budget used up on {day}: spent {spend} of {budget}; {lost} auctions were skipped after that.",
            day=last.day,
            spend=format_money(last.spend_micros, currency),
            budget=format_money(budget, currency),
            lost=f"{budget_losses_last_day:,}",
        )
        out.append(Alert(c.id, c.name, "budget_early", text, False))
    roi = totals.roi
    if roi is not None and roi < float(c.target_roi) and totals.orders > 0:
        text = t("ROI {roi:.2f} is below the target {target}.", roi=roi, target=c.target_roi)
        out.append(Alert(c.id, c.name, "roi_below", text, True))
    pool = pool or PoolNews()
    left = [pid for pid in ineligible if pid in pool.left]
    for pid in left[:MAX_POOL_ALERTS]:
        ch = pool.left[pid]
        text = t(
            "{product} left the promotion pool on {when}: {why}",
            product=pool.titles.get(pid, pid),
            when=format_time(ch.ts_ms),
            why=" ".join(t.explain(r) for r in ch.failures) or t("the pool's rules changed."),
        )
        out.append(Alert(c.id, c.name, "product_ineligible", text, True))
    rest = [pid for pid in ineligible if pid not in pool.left] + left[MAX_POOL_ALERTS:]
    if rest:
        text = t(
            "{n} of its products are not eligible for promotion now: {ids}.",
            n=len(rest),
            ids=", ".join(rest[:5]),
        )
        out.append(Alert(c.id, c.name, "product_ineligible", text, True))
    for pid, ch in list(pool.back.items())[:MAX_POOL_ALERTS]:
        text = t(
            "{product} came back into the promotion pool on {when}.",
            product=pool.titles.get(pid, pid),
            when=format_time(ch.ts_ms),
        )
        out.append(Alert(c.id, c.name, "product_back", text, False))
    return out


@dataclass(frozen=True, slots=True)
class PoolNews:
    """What the pool's history says about a campaign's products: the ones whose last change was leaving the
    pool, the ones that came back lately (newest first), and their titles."""

    left: dict[str, PoolChange] = field(default_factory=dict)
    back: dict[str, PoolChange] = field(default_factory=dict)
    titles: dict[str, str] = field(default_factory=dict)


def pool_news(changes: Iterable[PoolChange], since_ms: int, titles: Mapping[str, str]) -> PoolNews:
    """``changes`` newest first (``PoolHistory.pool_changes``): each product's last change decides; a return
    counts as news when it is at or after ``since_ms``."""
    last: dict[str, PoolChange] = {}
    for ch in changes:
        last.setdefault(ch.product_id, ch)
    left = {p: ch for p, ch in last.items() if not ch.eligible}
    back = {p: ch for p, ch in last.items() if ch.eligible and ch.ts_ms >= since_ms}
    return PoolNews(left, back, {p: titles[p] for p in last if p in titles})


def diagnose(
    t: Translator,
    currency: str,
    c: Campaign,
    days: list[CampaignDay],
    totals: CampaignTotals,
    losses_by_reason: Iterable[tuple[str, int]],
    ineligible: list[str],
    worst_product: tuple[str, float, int] | None,
) -> Diagnosis:
    """What limits the campaign's delivery now, heaviest first, and the one change that would help most.

    ``worst_product``: ``(product id, ROI, spend micros)`` of the product with the lowest ROI that spent."""
    limits: list[Limit] = []
    advice: dict[str, str] = {}
    order: dict[str, int] = {}
    budget = int(c.daily_budget_micros)
    target = Decimal(str(c.target_roi))
    roi = totals.roi
    last = _last_day(days)
    losses = dict(losses_by_reason)
    lost = sum(losses.values())
    if c.status == CampaignStatus.PAUSED:
        limits.append(Limit("paused", t("The campaign is paused.")))
        advice["paused"] = t("Resume the campaign.")
    if last is None or (last.impressions == 0 and last.clicks == 0):
        limits.append(Limit("no_traffic", t("No settled day with impressions yet.")))
        advice["no_traffic"] = t("Wait for the first settled day, or add more eligible products.")
    if last is not None and budget:
        use = last.spend_micros / budget
        if use >= BUDGET_BOUND:
            fig = t(
                "On {day} it spent {spend} of its {budget} daily budget ({use:.0%}).",
                day=last.day,
                spend=format_money(last.spend_micros, currency),
                budget=format_money(budget, currency),
                use=use,
            )
            limits.append(Limit("budget", fig))
            new = int(budget * BUDGET_STEP)
            if roi is not None and roi >= float(target):
                advice["budget"] = t(
                    "Raise the daily budget to {new}: ROI {roi:.2f} is above the target {target}, so more "
                    "spend should still pay.",
                    new=format_money(new, currency),
                    roi=roi,
                    target=target,
                )
            else:
                advice["budget"] = t(
                    "Keep the budget; first bring ROI up to the target (it is {roi}).",
                    roi="–" if roi is None else f"{roi:.2f}",
                )
    bid_lost = sum(losses.get(r, 0) for r in BID_LIMITED)
    if lost and bid_lost:
        share = bid_lost / lost
        spent_share = (last.spend_micros / budget) if (last is not None and budget) else 0.0
        kind = (
            "roi_target" if spent_share < BUDGET_BOUND and (roi is None or roi >= float(target)) else "outbid"
        )
        fig = t(
            "{share:.0%} of lost auctions ({n} of {total}) were out-bid or under the reserve price.",
            share=share,
            n=f"{bid_lost:,}",
            total=f"{lost:,}",
        )
        limits.append(Limit(kind, fig))
        lower = max(Decimal("0.10"), (target * ROI_STEP).quantize(Decimal("0.01")))
        advice[kind] = t(
            "Lower the target ROI from {target} to {lower}: bids rise and win more of these auctions while "
            "the budget is not used up.",
            target=target,
            lower=lower,
        )
    if ineligible or losses.get("ineligible", 0):
        n = losses.get("ineligible", 0)
        share = n / lost if lost else 0.0
        fig = t(
            "{k} of {m} products are not eligible; {share:.0%} of lost auctions were for that reason.",
            k=len(ineligible),
            m=len(c.product_ids),
            share=share,
        )
        limits.append(Limit("eligibility", fig))
        if len(ineligible) * 2 > len(c.product_ids):
            order["eligibility"] = PRIORITY.index("eligibility_most")
        advice["eligibility"] = t(
            "Open the product pages of {ids} and fix what fails (or remove them from the campaign).",
            ids=", ".join(ineligible[:3]) or t("the products"),
        )
    if roi is not None and roi < float(target):
        gap = 1.0 - roi / float(target)
        fig = t(
            "Delivered ROI {roi:.2f} is {gap:.0%} under the target {target}.", roi=roi, gap=gap, target=target
        )
        limits.append(Limit("roi_below", fig))
        if worst_product is not None:
            pid, proi, pspend = worst_product
            advice["roi_below"] = t(
                "Remove product {pid}: ROI {roi:.2f} on {spend} of spend. The ROI guarantee covers the "
                "shortfall of a judged window.",
                pid=pid,
                roi=proi,
                spend=format_money(pspend, currency),
            )
        else:
            advice["roi_below"] = t("The ROI guarantee covers the shortfall of a judged window.")
    limits.sort(key=lambda x: order.get(x.kind, PRIORITY.index(x.kind)))
    primary = limits[0].kind if limits else None
    text = advice.get(primary or "", t("Nothing limits delivery now."))
    return Diagnosis(limits, text, primary)


def contract_of(doc: Mapping[str, Any] | str) -> GuaranteeContract:
    """The contract a statement quotes (its document, or the document's JSON); an empty one is the default."""
    d = json.loads(doc) if isinstance(doc, str) else doc
    return GuaranteeContract.from_dict(d) if d else GuaranteeContract()


def _contract_terms(t: Translator, currency: str, g: GuaranteeContract, target: str) -> list[tuple[str, str]]:
    tgt = g.target_roi if g.target_roi is not None else Decimal(target)
    n = g.window_days
    if not g.repeat:
        window = t("one {n}-day window", n=n)
    elif g.align == "campaign":
        window = t("{n}-day windows, from the campaign's start, repeating", n=n)
    else:
        window = t("{n}-day windows on the calendar, repeating", n=n)
    return [
        (t("Window"), window),
        (t("Trigger"), t("delivered ROI under {x} ({f} × target {t})", x=f"{g.trigger_roi_factor * tgt:.2f}",
                         f=g.trigger_roi_factor, t=tgt)),
        (t("Minimum orders"), str(g.min_orders)),
        (t("Amount due"), t("spend − GMV ÷ target ROI")),
        (t("Cap"), _cap_words(t, currency, g)),
        (t("Judged"), t("{n} days after the window closes (late orders and refunds counted)",
                        n=g.observation_lag_ms // DAY_MS)),
        (t("Paid as"), t("ad credit")),
    ]  # fmt: skip


def _cap_words(t: Translator, currency: str, g: GuaranteeContract) -> str:
    words = t("{p:.0%} of the window's spend", p=float(g.cap_ratio_of_spend))
    if g.cap_micros is not None:
        words += t(", at most {m}", m=format_money(int(g.cap_micros), currency))
    return words


def guarantee_view(t: Translator, currency: str, st: CampaignStatement, target_roi: str) -> GuaranteeView:
    """The guarantee statement of a campaign: the contract in force and, per judged window, the figures,
    the amount due and what the ledger credited and reversed for it."""
    terms = _contract_terms(t, currency, contract_of(st.contract), target_roi)
    credit = credit_account(st.merchant_id)
    credited: dict[str, int] = {}
    reversed_: dict[str, int] = {}
    for leg in st.ledger:
        if leg.window and leg.account == credit:
            if leg.amount_micros >= 0:
                credited[leg.window] = credited.get(leg.window, 0) + leg.amount_micros
            else:
                reversed_[leg.window] = reversed_.get(leg.window, 0) - leg.amount_micros
    wins = []
    for w in st.guarantee_windows:
        g = contract_of(w.contract)
        tgt = Decimal(w.target_roi)
        trig = g.trigger_roi_factor * tgt
        if w.spend_micros <= 0:
            outcome = t("No spend in the window: nothing due.")
        elif w.orders < g.min_orders:
            outcome = t("{o} orders, fewer than the {m} required: not judged.", o=w.orders, m=g.min_orders)
        elif not w.triggered:
            outcome = t(
                "ROI {roi:.2f} ≥ {trig:.2f}: the promise was kept.", roi=w.roi or 0.0, trig=float(trig)
            )
        else:
            owed = w.spend_micros - int(Decimal(w.gmv_micros) / tgt)
            outcome = t(
                "ROI {roi:.2f} < {trig:.2f}: due {spend} − {gmv} ÷ {target} = {owed}, capped at {cap}.",
                roi=w.roi or 0.0,
                trig=float(trig),
                spend=format_money(w.spend_micros, currency),
                gmv=format_money(w.gmv_micros, currency),
                target=tgt,
                owed=format_money(max(0, owed), currency),
                cap=_cap_words(t, currency, g),
            )
        last = day_str(day_index(w.first_day) + w.days - 1)
        wins.append(
            WindowStatement(
                w.window, w.first_day, last, w.days, w.target_roi, f"{trig:.2f}", g.min_orders,
                _cap_words(t, currency, g), w.spend_micros, w.gmv_micros, w.orders, w.roi, w.triggered,
                outcome, w.compensation_micros, credited.get(w.window, 0), reversed_.get(w.window, 0),
            )
        )  # fmt: skip
    return GuaranteeView(terms, wins)


def worst_product(store: Store, c: Campaign) -> tuple[str, float, int] | None:
    """The campaign's product with the lowest ROI among those that spent (``None`` with fewer than two)."""
    rows, _, _ = report(store, [c], "product", None, None)
    spent = [(r.key, r.roi or 0.0, r.spend_micros) for r in rows if r.spend_micros]
    return min(spent, key=lambda x: (x[1], -x[2])) if len(spent) > 1 else None


def explain_campaign(
    t: Translator,
    currency: str,
    engine: Engine,
    store: Store,
    c: Campaign,
    loss_rows: Iterable[tuple[str, str, str, int]],
) -> Diagnosis:
    """:func:`diagnose` over what the engine reports of ``c``; ``loss_rows``: its ``(day, product, reason,
    count)`` lost-auction rows (``AuctionLosses.losses``)."""
    rep = engine.campaign_report(c.id)
    by_reason: dict[str, int] = {}
    for _, _, reason, n in loss_rows:
        by_reason[reason] = by_reason.get(reason, 0) + n
    bad = [p for p in c.product_ids if not is_eligible(engine, p)]
    return diagnose(t, currency, c, rep.days, rep.total, by_reason.items(), bad, worst_product(store, c))
