"""The demo's market (``sitewide demo``), set up on purpose to show the three ways a campaign's delivery ends:
by its **budget**, by its **target ROI**, and a window whose ROI **misses the guarantee and is compensated**.

The market runs at the calibrated rates (``SimConfig``'s CTR and CVR: Ali-CCP and Open Bandit), where a
campaign sees a few orders a day; nothing is inflated. What is staged, and said so in the demo's output:

- three campaigns' terms (:data:`DEMO_CAMPAIGNS`): a small budget with a low target; a high target with a large
  budget; and a third whose products' orders are worth far less than their list price during its first
  guarantee window (:func:`coupon`: a coupon code for them leaked, shoppers paid a tenth of the price), so
  that window's ROI falls under the promise whatever the bidder did, and the guarantee pays. Nothing touches
  the engine's books: the shoppers pay less, the orders report what they paid;
- the guarantee the demo deployment runs under (:data:`DEMO_CONTRACT`): 3-day windows with at least one order,
  because the platform default (7-day windows, at least 30 orders) is never judged in a market this small.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal

import numpy as np

from sitewide.domain.guarantee import PLATFORM_CONTRACT
from sitewide.domain.money import Micros
from sitewide.domain.time import DAY_MS
from sitewide.domain.types import Campaign
from sitewide.simulator.story import Story
from sitewide.simulator.world import World

# the platform's contract (paid when ROI < target ÷ 1.2, at most half the window's spend) over 3-day windows from
# each campaign's start with at least one order, judged a day after the window closes (late orders and refunds
# counted, and re-judged when more arrive)
DEMO_CONTRACT = replace(PLATFORM_CONTRACT, window_days=3, min_orders=1, observation_lag_ms=DAY_MS)
COUPON_PAID_SHARE = 0.1  # what shoppers paid of the list price while the staged coupon lasted


@dataclass(frozen=True, slots=True)
class DemoCampaign:
    """One of the demo's campaigns as set up: ``kind`` is what should end its delivery (``budget``,
    ``roi_target`` or ``guarantee``), ``setup`` says in words how it was set up to show that."""

    kind: str
    name: str
    target_roi: Decimal
    daily_budget_micros: int
    setup: str


DEMO_CAMPAIGNS: tuple[DemoCampaign, ...] = (
    DemoCampaign(
        "budget",
        "Everyday essentials",
        Decimal("1.50"),
        3_000_000,
        "a low target ROI (1.50) and a small budget (3.00 a day): nearly every auction is worth a bid, and the "
        "budget runs out before the day ends",
    ),
    DemoCampaign(
        "roi_target",
        "Premium line",
        Decimal("4.00"),
        100_000_000,
        "a high target ROI (4.00) and a large budget (100.00 a day): the bidder bids only what the target "
        "allows, loses auctions to higher bids and the reserve price, and leaves most of the budget unspent",
    ),
    DemoCampaign(
        "guarantee",
        "Home appliances",
        Decimal("2.00"),
        60_000_000,
        f"a coupon for its products leaked during its first guarantee window (staged: days 1-"
        f"{DEMO_CONTRACT.window_days}, shoppers paid {COUPON_PAID_SHARE:.0%} of the list price), so the orders "
        "its clicks earned were worth far less than the bidder expected, the window's ROI missed the promise "
        "and the guarantee paid the difference",
    ),
)


def apply_demo_campaigns(world: World) -> list[tuple[Campaign, DemoCampaign]]:
    """Give three of the world's campaigns the demo's terms, in place, before an engine sees them: the largest
    campaign gets the last set (the staged miss needs orders), the next largest the one before, …; returns each
    campaign with its set, in :data:`DEMO_CAMPAIGNS` order."""
    by_size = sorted(range(len(world.campaigns)), key=lambda i: (len(world.campaigns[i].product_ids), i))
    picked = by_size[-len(DEMO_CAMPAIGNS) :]
    out = []
    for i, spec in zip(picked, DEMO_CAMPAIGNS, strict=True):
        new = replace(
            world.campaigns[i],
            name=spec.name,
            target_roi=spec.target_roi,
            daily_budget_micros=Micros(spec.daily_budget_micros),
        )
        world.campaigns[i] = new
        out.append((new, spec))
    return out


def coupon(story: Story, campaign: Campaign, on: bool, paid_share: float = COUPON_PAID_SHARE) -> None:
    """Start (``on``) or end the leaked coupon on ``campaign``'s products: while it lasts a shopper pays
    ``paid_share`` of the list price (the order reports what was paid); ended, the full price again."""
    index = {pid: i for i, pid in enumerate(story.pids)}
    rows = np.asarray([index[p] for p in campaign.product_ids], dtype=np.int64)
    story.paid_ppm[rows] = round(paid_share * 1_000_000) if on else 1_000_000
