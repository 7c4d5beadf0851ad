"""What limits a campaign's delivery, from its figures: the budget when a day spends it, the ROI target when
bids lose with budget left, an ROI under the target before either, eligibility when most products are out —
each with the figure behind it and the one change that helps most."""

from __future__ import annotations

import json
from decimal import Decimal

from sitewide.domain.money import Micros
from sitewide.domain.reports import CampaignDay, CampaignTotals, campaign_total
from sitewide.domain.types import Campaign
from sitewide.i18n import translator
from sitewide.service.diagnosis import diagnose

T = translator("en")
C = Campaign("c1", "m1", "Sale", ("p1", "p2", "p3", "p4"), Decimal("3.00"), Micros(10_000_000))


def day(spend: int, gmv: int, orders: int = 5) -> CampaignDay:
    return CampaignDay(day="2026-01-05", impressions=1_000, clicks=50, invalid_clicks=0, orders=orders,
                       spend_micros=spend, gmv_micros=gmv, compensation_micros=0, roi=gmv / spend if spend else None)  # fmt: skip


def totals(d: CampaignDay) -> CampaignTotals:
    return campaign_total([d])


def test_a_day_that_spends_its_budget_is_budget_bound() -> None:
    d = day(9_800_000, 49_000_000)
    r = diagnose(T, "USD", C, [d], totals(d), [("outbid", 30)], [], None)
    assert r.primary == "budget" and "98%" in r.limits[0].figure
    assert "Raise the daily budget to $15.00" in r.advice


def test_bids_that_lose_with_budget_left_are_roi_bound() -> None:
    d = day(2_000_000, 9_000_000)
    r = diagnose(
        T, "USD", C, [d], totals(d), [("outbid", 60), ("below_reserve", 20), ("ad_load_cap", 20)], [], None
    )
    assert r.primary == "roi_target" and "80% of lost auctions (80 of 100)" in r.limits[0].figure
    assert "Lower the target ROI from 3.00 to 2.40" in r.advice


def test_an_roi_under_target_speaks_before_bids_and_names_the_worst_product() -> None:
    d = day(2_000_000, 2_000_000)
    r = diagnose(T, "USD", C, [d], totals(d), [("outbid", 60)], [], ("p3", 0.2, 1_500_000))
    assert [x.kind for x in r.limits][:2] == ["roi_below", "outbid"]
    assert "Remove product p3" in r.advice and "$1.50" in r.advice


def test_most_products_out_of_the_pool_comes_before_the_target() -> None:
    d = day(1_000_000, 5_000_000)
    r = diagnose(T, "USD", C, [d], totals(d), [("outbid", 10), ("ineligible", 90)], ["p1", "p2", "p3"], None)
    assert r.primary == "eligibility" and "3 of 4 products" in r.limits[0].figure and "p1, p2, p3" in r.advice
    one_out = diagnose(T, "USD", C, [d], totals(d), [("outbid", 80), ("ineligible", 20)], ["p1"], None)
    assert one_out.primary == "roi_target"


def test_nothing_settled_yet() -> None:
    r = diagnose(T, "USD", C, [], campaign_total([]), [], [], None)
    assert r.primary == "no_traffic" and "Wait for the first settled day" in r.advice


def test_the_guarantee_statement_quotes_the_contract_document_it_was_judged_by() -> None:
    """The terms and each window's judgement come from the contract document (``GuaranteeContract.to_dict``,
    nested by schema), not from defaults: a 3-day contract with a trigger under the target, one order minimum
    and half the spend as cap reads so, and a window without orders is not judged."""
    from sitewide.domain.guarantee import GuaranteeContract
    from sitewide.domain.reports import CampaignStatement, StatementWindow
    from sitewide.service.diagnosis import guarantee_view

    g = GuaranteeContract(
        window_days=3,
        trigger_roi_factor=Decimal("0.8"),
        min_orders=1,
        cap_ratio_of_spend=Decimal("0.5"),
        observation_lag_ms=86_400_000,
        align="campaign",
    )
    doc = json.dumps(g.to_dict())

    def window(first: str, spend: int, gmv: int, orders: int, paid: int) -> StatementWindow:
        roi = gmv / spend
        return StatementWindow(
            f"{first}+3d", first, 3, 1, doc, "2.00", spend, gmv, orders, roi, paid > 0, paid, ""
        )

    st = CampaignStatement(
        "c1", "m1", None, g.to_dict(), [], [],
        [window("2026-01-01", 20_000_000, 10_000_000, 2, 10_000_000), window("2026-01-04", 40_000_000, 0, 0, 0)],
        [],
    )  # fmt: skip
    v = guarantee_view(T, "USD", st, "2.00")
    terms = dict(v.terms)
    assert terms["Window"] == "3-day windows, from the campaign's start, repeating"
    assert terms["Trigger"] == "delivered ROI under 1.60 (0.8 × target 2.00)"
    assert (terms["Minimum orders"], terms["Cap"]) == ("1", "50% of the window's spend")
    assert terms["Judged"].startswith("1 days after")
    paid, empty = v.windows
    assert (
        paid.triggered and "< 1.60" in paid.outcome and "capped at 50% of the window's spend" in paid.outcome
    )
    assert empty.outcome == "0 orders, fewer than the 1 required: not judged."
