"""The auction-only path: the caller's candidates priced like ``serve`` (same bids, pacing, domain auction)."""

from __future__ import annotations

import numpy as np
import pytest

from sitewide.domain.time import day_bounds
from sitewide.domain.types import Campaign, Event, EventKind, Product, Shop, ValidationError
from sitewide.engine import Engine
from sitewide.engine.auctions import AuctionRequest, BidCodec, ResolvedBid
from sitewide.ports import RequestBatch
from sitewide.storage.memory import MemoryStore
from sitewide.wiring import seeded_engine

T0 = day_bounds("2026-01-05")[0] + 1_000
ALL = tuple(f"p{i:02d}" for i in range(12))


@pytest.fixture()
def engine(shops: list[Shop], products: list[Product], campaigns: list[Campaign]) -> Engine:
    return seeded_engine(MemoryStore(), shops, products, campaigns)


def test_winners_are_ranked_ads_of_live_campaigns_priced_within_reserve_and_bid(engine: Engine) -> None:
    (out,) = engine.auctions([AuctionRequest("a1", 3, "u1", product_ids=ALL, ts_ms=T0)])
    assert 1 <= len(out.winners) <= 3
    assert [w.rank for w in out.winners] == list(range(1, len(out.winners) + 1))
    camp = {c.id: c for c in engine.store.list_campaigns()}
    reserve = engine.config.auction.reserve_cpc_micros
    for w in out.winners:
        assert w.product_id in camp[w.campaign_id].product_ids
        assert w.price_micros >= reserve
        assert w.auction_id == "a1" and w.user_id == "u1"
    assert len({w.product_id for w in out.winners}) == len(out.winners)


def test_only_the_named_candidates_compete(engine: Engine) -> None:
    (out,) = engine.auctions([AuctionRequest("a1", 5, "u1", product_ids=("p02", "p03", "p07"), ts_ms=T0)])
    assert {w.product_id for w in out.winners} <= {"p02", "p03"}  # p07 has no campaign
    (none,) = engine.auctions([AuctionRequest("a2", 5, "u1", product_ids=("p07", "nope"), ts_ms=T0)])
    assert none.winners == ()


def test_category_and_query_auctions(engine: Engine) -> None:
    cat, q = engine.auctions(
        [
            AuctionRequest("a1", 2, "u1", category="mice", ts_ms=T0),
            AuctionRequest("a2", 2, "u1", query="usb flash drive", ts_ms=T0),
        ]
    )
    assert cat.winners and {w.product_id for w in cat.winners} <= {"p02", "p03"}  # the mice with campaigns
    assert all(w.campaign_id in ("c1", "c2") for w in q.winners)


def test_one_slot_price_is_the_runner_up_bid_per_click_gsp(engine: Engine) -> None:
    """Two ads for one slot, priced through serving's own pricing: the winner pays the runner-up's
    per-impression bid divided by its own pCTR (GSP with organic scores at zero), within reserve and bid."""
    req = [AuctionRequest("a1", 1, "u1", product_ids=("p00", "p01"), ts_ms=T0)]
    batch = RequestBatch(["a1"], ["u1"], np.array([1]), [""], T0, 1)
    sb, _ = engine.serving.price(batch, engine.auction_desk._rows(batch, req), ads_only=True)
    assert sb.bid is not None and sb.bid_pctr is not None and sb.candidates is not None
    assert sb.promoted[0, 0]
    win = int(np.flatnonzero(sb.candidates[0] == sb.product_idx[0, 0])[0])
    lose = 1 - win
    bid_w, bid_l, pctr_w = sb.bid[0, win], sb.bid[0, lose], sb.bid_pctr[0, win]
    assert bid_w >= bid_l > 0
    reserve = engine.config.auction.reserve_cpc_micros
    expect = min(max(round(bid_l / pctr_w), reserve), int(np.floor(bid_w / pctr_w)))
    assert abs(int(sb.price_cpc_micros[0, 0]) - expect) <= 1


def test_exhausted_budget_wins_nothing(engine: Engine) -> None:
    for c in engine.store.list_campaigns():
        engine.record_events(
            [
                Event(
                    f"k{c.id}",
                    EventKind.CLICK,
                    T0 + 5,
                    "u",
                    c.product_ids[0],
                    campaign_id=c.id,
                    price_micros=c.daily_budget_micros,
                )
            ]
        )
    (out,) = engine.auctions([AuctionRequest("a1", 3, "u1", product_ids=ALL, ts_ms=T0 + 10)])
    assert out.winners == ()


def test_limits_are_validation_errors(engine: Engine) -> None:
    with pytest.raises(ValidationError):
        engine.auctions([AuctionRequest(f"a{i}", 1, product_ids=ALL) for i in range(6)])
    with pytest.raises(ValidationError):
        engine.auctions([AuctionRequest("a", 1)])
    with pytest.raises(ValidationError):
        engine.auctions([AuctionRequest("a", 1, product_ids=ALL, category="mice")])
    with pytest.raises(ValidationError):
        engine.auctions([AuctionRequest("a", 0, product_ids=ALL)])


def test_resolved_bid_ids_round_trip_and_reject_tampering() -> None:
    codec = BidCodec(b"k" * 32)
    bid = ResolvedBid("a:1", "p00", "c1", 1, 123_456, "user-ü")
    token = codec.encode(bid)
    assert codec.decode(token) == bid
    forged = (
        codec.encode(ResolvedBid("a:1", "p00", "c1", 1, 1, "user-ü")).split(".")[0]
        + "."
        + token.split(".")[1]
    )
    with pytest.raises(ValidationError):
        codec.decode(forged)
    with pytest.raises(ValidationError):
        BidCodec(b"other-secret-1234").decode(token)
    with pytest.raises(ValidationError):
        codec.decode("garbage")


def test_an_ineligible_product_never_wins(engine: Engine) -> None:
    (before,) = engine.auctions([AuctionRequest("a1", 3, "u1", product_ids=ALL, ts_ms=T0)])
    top = before.winners[0].product_id
    engine.catalogue.eligible[engine.catalogue.row[top]] = False  # out of the pool (as a failed rule leaves it)
    for i in range(5):
        (out,) = engine.auctions([AuctionRequest(f"b{i}", 3, f"u{i}", product_ids=ALL, ts_ms=T0)])
        assert top not in {w.product_id for w in out.winners}
