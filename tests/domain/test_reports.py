"""``domain.reports.campaign_total``: the one sum of a campaign's days (its report's total and the dashboard's
date-range totals)."""

from sitewide.domain.reports import CampaignDay, CampaignTotals, campaign_total


def _day(day: str, spend: int, gmv: int, orders: int) -> CampaignDay:
    return CampaignDay(100, 10, 1, orders, spend, gmv, 0 if day < "2026-01-02" else 5, gmv / spend, day)


def test_the_total_sums_every_figure_and_takes_roi_over_the_sums() -> None:
    t = campaign_total(
        [_day("2026-01-01", 1_000_000, 4_000_000, 2), _day("2026-01-02", 3_000_000, 2_000_000, 1)]
    )
    assert t == CampaignTotals(200, 20, 2, 3, 4_000_000, 6_000_000, 5, 1.5)  # not the mean of 4.0 and 0.667


def test_no_days_no_spend_no_roi() -> None:
    assert campaign_total([]) == CampaignTotals(0, 0, 0, 0, 0, 0, 0, None)
