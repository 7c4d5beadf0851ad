"""The read-only report functions the question loop may call, each scoped to the merchant of a
:class:`~sitewide.agent.facts.Scope` (never to an id from the question or the model: an id that is not the
merchant's is "not found", exactly as on the API). Each returns a :class:`ToolResult`: a short text for the
model or the template, and the rows it used as citations.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from sitewide.agent.facts import Scope, findings
from sitewide.agent.thresholds import yuan
from sitewide.agent.types import Citation
from sitewide.domain.time import day_bounds
from sitewide.domain.types import NotFound, ValidationError
from sitewide.ports import ReportQuery, ReportTotals
from sitewide.service.scope import visible_campaign, visible_product
from sitewide.service.usecases import reports as reports_uc


@dataclass(frozen=True, slots=True)
class ToolResult:
    text: str
    rows: tuple[Citation, ...] = ()
    data: tuple[tuple[str, str], ...] = ()  # named figures the templates quote


@dataclass(frozen=True, slots=True)
class Tool:
    name: str
    description: str
    params: tuple[tuple[str, str], ...]  # (name, description); every parameter is an optional string
    run: Callable[[Scope, dict[str, str]], ToolResult]


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def _day_row(t: ReportTotals, source: str, ids: tuple[str, ...]) -> Citation:
    roi = _ratio(t.gmv_micros, t.spend_micros)
    return Citation(
        source,
        ids,
        (
            ("impressions", str(t.impressions)),
            ("clicks", str(t.clicks)),
            ("orders", str(t.orders)),
            ("spend", yuan(t.spend_micros)),
            ("gmv", yuan(t.gmv_micros)),
            ("roi", f"{roi:.2f}" if roi is not None else "-"),
        ),
    )


def _campaign_ids(scope: Scope, campaign_id: str | None) -> tuple[str, ...]:
    if campaign_id:
        return (visible_campaign(scope.store, scope.who, campaign_id).id,)
    return tuple(c.id for c in scope.campaigns())


def campaign_days(scope: Scope, args: dict[str, str]) -> ToolResult:
    """Settled days (the last ``days``, default 7) of one campaign or of all the merchant's."""
    ids = _campaign_ids(scope, args.get("campaign_id"))
    n = int(args.get("days") or 7)
    rows = []
    for cid in ids:
        for t in scope.store.report(ReportQuery((cid,), "day")).rows[-n:]:
            rows.append(_day_row(t, "report:campaign_day", (cid, t.key)))
    text = "\n".join(r.text() for r in rows) or "no settled days"
    return ToolResult(text, tuple(rows))


def _settled_days(scope: Scope, ids: tuple[str, ...]) -> list[ReportTotals]:
    return list(scope.store.report(ReportQuery(ids, "day")).rows) if ids else []


def compare_days(scope: Scope, args: dict[str, str]) -> ToolResult:
    """The merchant's (or one campaign's) ROI on ``day`` (default: the last settled day) against the settled
    day before, split into its drivers: ROI = CVR × order value ÷ CPC."""
    ids = _campaign_ids(scope, args.get("campaign_id"))
    days = _settled_days(scope, ids)
    want = args.get("day")
    if want:
        day_bounds(want)
    cur = next((t for t in days if t.key == want), None) if want else (days[-1] if days else None)
    if cur is None:
        return ToolResult(f"no settled day {want or ''}".strip())
    prev = next((t for t in reversed(days) if t.key < cur.key), None)
    src = "report:merchant_day" if len(ids) != 1 or not args.get("campaign_id") else "report:campaign_day"
    key = (scope.merchant_id,) if src == "report:merchant_day" else ids
    rows = [_day_row(cur, src, (*key, cur.key))]
    data: list[tuple[str, str]] = [("day", cur.key)]
    roi = _ratio(cur.gmv_micros, cur.spend_micros)
    data.append(("roi", f"{roi:.2f}" if roi is not None else "-"))
    if prev is None:
        return ToolResult(rows[0].text() + "\nno earlier settled day to compare", tuple(rows), tuple(data))
    rows.append(_day_row(prev, src, (*key, prev.key)))
    proi = _ratio(prev.gmv_micros, prev.spend_micros)
    data += [("prev_day", prev.key), ("prev_roi", f"{proi:.2f}" if proi is not None else "-")]
    drivers = []
    for name, a, b in (
        ("cvr", _ratio(cur.orders, cur.clicks), _ratio(prev.orders, prev.clicks)),
        ("order_value", _ratio(cur.gmv_micros, cur.orders), _ratio(prev.gmv_micros, prev.orders)),
        ("cpc", _ratio(cur.spend_micros, cur.clicks), _ratio(prev.spend_micros, prev.clicks)),
    ):
        if a and b:
            # a higher CPC lowers ROI: its effect on ROI is the inverse ratio
            effect = math.log(b / a) if name == "cpc" else math.log(a / b)
            drivers.append((abs(effect), name, a / b, effect))
    drivers.sort(reverse=True)
    if drivers:
        _, name, change, effect = drivers[0]
        data += [
            ("driver", name),
            ("driver_change", f"{change - 1:+.0%}"),
            ("driver_effect", f"{effect:+.2f}"),
        ]
    per_campaign = []
    if len(ids) > 1:
        for cid in ids:
            rep = {t.key: t for t in scope.store.report(ReportQuery((cid,), "day", prev.key, cur.key)).rows}
            a_, b_ = rep.get(cur.key), rep.get(prev.key)
            ra = _ratio(a_.gmv_micros, a_.spend_micros) if a_ else None
            rb = _ratio(b_.gmv_micros, b_.spend_micros) if b_ else None
            if ra is not None and rb is not None:
                per_campaign.append((ra - rb, cid, a_, b_))
        per_campaign.sort(key=lambda x: x[0])
        if per_campaign and per_campaign[0][0] < 0:
            d, cid, a_, b_ = per_campaign[0]
            assert a_ is not None and b_ is not None
            rows += [
                _day_row(a_, "report:campaign_day", (cid, cur.key)),
                _day_row(b_, "report:campaign_day", (cid, prev.key)),
            ]
            data += [("worst_campaign", cid), ("worst_campaign_roi_change", f"{d:+.2f}")]
    text = "\n".join(r.text() for r in rows) + "\n" + ", ".join(f"{k}={v}" for k, v in data)
    return ToolResult(text, tuple(rows), tuple(data))


def auction_losses(scope: Scope, args: dict[str, str]) -> ToolResult:
    """Why the merchant's ads were not shown on ``day`` (default: all days), by reason."""
    day = args.get("day") or None
    rows = []
    for cid in _campaign_ids(scope, args.get("campaign_id")):
        rep = reports_uc.auction_losses(scope.store, scope.accounts, scope.who, cid, day, 0)
        if rep.by_reason:
            rows.append(
                Citation("auction_losses", (cid, day or "all"), tuple((r, str(n)) for r, n in rep.by_reason))
            )
    return ToolResult("\n".join(r.text() for r in rows) or "no lost auctions recorded", tuple(rows))


def eligibility(scope: Scope, args: dict[str, str]) -> ToolResult:
    """The pool decision of one product, or the merchant's products that are out of the pool."""
    from sitewide.service.usecases import catalogue as catalogue_uc

    pid = args.get("product_id")
    prods = (
        [visible_product(scope.store, scope.who, pid)[0]]
        if pid
        else [p for p, _ in catalogue_uc.visible_products(scope.store, scope.who)]
    )
    rows = []
    for p in prods:
        try:
            d = scope.engine.eligibility(p.id)
        except NotFound:
            continue
        if pid or not d.eligible:
            vals = (("eligible", "true" if d.eligible else "false"),) + tuple(
                (r.rule, r.message) for r in d.failures
            )
            rows.append(Citation("eligibility", (p.id,), vals))
    return ToolResult("\n".join(r.text() for r in rows) or "every product is in the pool", tuple(rows))


def shop_score(scope: Scope, args: dict[str, str]) -> ToolResult:
    """The experience score of the merchant's shops, factor by factor."""
    from sitewide.service.usecases import catalogue as catalogue_uc

    rows = []
    for s in catalogue_uc.list_shops(scope.store, scope.who):
        sc = scope.engine.shop_score(s.id)
        if sc is None:
            continue
        vals = (("score", f"{sc.score:.1f}"), ("multiplier", f"{sc.multiplier:.3f}")) + tuple(
            (f.name, f"{f.sub_score:.0f}") for f in sc.factors if f.weight > 0
        )
        rows.append(Citation("shop_score", (s.id,), vals))
    return ToolResult("\n".join(r.text() for r in rows) or "no shop score yet", tuple(rows))


def diagnosis(scope: Scope, args: dict[str, str]) -> ToolResult:
    """The agent's findings for ``day`` (default: the last settled day), with their suggestions."""
    day = args.get("day") or None
    _, got = findings(scope, day)
    lang = args.get("lang", "en")
    lines: list[str] = []
    rows: list[Citation] = []
    for f in got:
        s = f.suggestion
        tip = ""
        if s is not None:
            tip = f" → {s.title_zh if lang == 'zh' else s.title_en} ({s.effect.gmv_micros_per_day / 1e6:+,.2f}/day)"
        lines.append(f"- {f.text(lang)}{tip}")
        rows.extend(f.evidence)
    return ToolResult("\n".join(lines) or "no problems found", tuple(rows), (("findings", str(len(got))),))


TOOLS: dict[str, Tool] = {
    t.name: t
    for t in (
        Tool(
            "compare_days",
            "ROI on a day vs the settled day before, with its drivers (CVR, order value, CPC)",
            (
                ("day", "YYYY-MM-DD, default the last settled day"),
                ("campaign_id", "one campaign, default all"),
            ),
            compare_days,
        ),
        Tool(
            "campaign_days",
            "settled daily figures of the merchant's campaigns",
            (("campaign_id", "one campaign, default all"), ("days", "how many recent days, default 7")),
            campaign_days,
        ),
        Tool(
            "auction_losses",
            "why ads were not shown, by reason",
            (("campaign_id", "one campaign, default all"), ("day", "YYYY-MM-DD, default all days")),
            auction_losses,
        ),
        Tool(
            "eligibility",
            "products out of the promotion pool and why",
            (("product_id", "one product, default all ineligible ones"),),
            eligibility,
        ),
        Tool("shop_score", "the shops' experience score by factor", (), shop_score),
        Tool(
            "diagnosis",
            "the agent's findings and suggestions with expected effects",
            (("day", "YYYY-MM-DD, default the last settled day"),),
            diagnosis,
        ),
    )
}


def call(scope: Scope, name: str, args: dict[str, object]) -> ToolResult:
    """Run a tool for the scope's merchant. Unknown tools and bad or foreign arguments come back as text (the
    loop goes on); the merchant is the scope's, whatever the arguments say."""
    tool = TOOLS.get(name)
    if tool is None:
        return ToolResult(f"unknown tool {name}")
    clean = {
        k: str(v) for k, v in args.items() if k in {p for p, _ in tool.params} | {"lang"} and v is not None
    }
    try:
        return tool.run(scope, clean)
    except (NotFound, ValidationError, ValueError) as exc:
        return ToolResult(f"{name}: {exc}")


__all__ = ["TOOLS", "Tool", "ToolResult", "call"]
