"""Property tests (hypothesis) of the sitewide auction mechanism."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sitewide.domain.auction import (
    AuctionBatch,
    AuctionConfig,
    AuctionResult,
    Reason,
    max_ads,
    run_auction,
)
from sitewide.domain.auction_reference import run_auction_reference

# small integer-ish values make ties frequent, which is where two implementations tend to disagree
VALUES = st.one_of(
    st.sampled_from([0.0, 100.0, 200.0, 300.0, 1000.0]),
    st.floats(0.0, 5_000.0, allow_nan=False, allow_infinity=False),
)
PCTRS = st.sampled_from([0.01, 0.05, 0.1, 0.3, 0.5, 1.0])


@st.composite
def batches(
    draw: st.DrawFn,
    max_rows: int = 3,
    min_cols: int = 1,
    max_cols: int = 8,
    dup_ids: bool = True,
    ad_heavy: bool = False,
) -> AuctionBatch:
    r = draw(st.integers(1, max_rows))
    n = draw(st.integers(min_cols, max_cols))
    size = r * n
    if dup_ids:
        product = draw(st.lists(st.integers(-1, n), min_size=size, max_size=size))
    else:
        product = [i % n for i in range(size)]
        pads = draw(st.lists(st.booleans(), min_size=size, max_size=size))
        product = [-1 if p else x for x, p in zip(product, pads, strict=True)]
    rel = draw(st.lists(VALUES, min_size=size, max_size=size))
    pctr = draw(st.lists(PCTRS, min_size=size, max_size=size))
    bid = draw(st.lists(VALUES, min_size=size, max_size=size))
    gate = st.just(True) if ad_heavy else st.sampled_from([True, True, True, False])
    has_campaign = draw(st.lists(gate if ad_heavy else st.booleans(), min_size=size, max_size=size))
    eligible = draw(st.lists(gate, min_size=size, max_size=size))
    budget = draw(st.lists(gate, min_size=size, max_size=size))
    return AuctionBatch(
        product=np.array(product, dtype=np.int64).reshape(r, n),
        relevance=np.array(rel).reshape(r, n),
        pctr=np.array(pctr).reshape(r, n),
        bid=np.array(bid).reshape(r, n),
        campaign=np.where(np.array(has_campaign), 0, -1).astype(np.int64).reshape(r, n),
        eligible=np.array(eligible).reshape(r, n),
        budget_ok=np.array(budget).reshape(r, n),
    )


@st.composite
def ad_heavy_configs(draw: st.DrawFn) -> AuctionConfig:
    """Configs where many ads are live and compete, so that price and shortfall checks are not vacuous."""
    return AuctionConfig(
        alpha=draw(st.sampled_from([0.5, 1.0, 2.0])),
        reserve_cpc_micros=draw(st.sampled_from([0, 100, 1_000])),
        max_ad_share=draw(st.sampled_from([0.5, 1.0, 1.0])),
        min_ad_spacing=draw(st.integers(0, 1)),
    )


# many candidates per slot, unique products: for checks that perturb one candidate's bid
CROWDED = st.one_of(
    batches(max_rows=1, min_cols=6, max_cols=12, dup_ids=False),
    batches(max_rows=1, min_cols=6, max_cols=12, dup_ids=False, ad_heavy=True),
)


@st.composite
def configs(draw: st.DrawFn, mechanism: str | None = None) -> AuctionConfig:
    return AuctionConfig(
        alpha=draw(st.sampled_from([0.0, 0.5, 1.0, 2.0, 3.7])),
        reserve_cpc_micros=draw(st.sampled_from([0, 100, 1_000, 10_000])),
        max_ad_share=draw(st.sampled_from([0.0, 0.3, 0.5, 1.0])),
        min_ad_spacing=draw(st.integers(0, 2)),
        mechanism=mechanism or draw(st.sampled_from(["gsp", "vcg"])),
    )


def with_examination(batch: AuctionBatch, slots: int) -> AuctionBatch:
    return replace(batch, examination=1.0 / np.log2(np.arange(slots) + 2.0))


SLOTS = st.integers(1, 5)


def position_of(res: AuctionResult, row: int, col: int) -> int:
    where = np.flatnonzero(res.slot[row] == col)
    return int(where[0]) if where.size else res.slot.shape[1]


@settings(max_examples=150, deadline=None)
@given(batches(), SLOTS, configs())
def test_batch_path_equals_per_request_path(batch: AuctionBatch, slots: int, config: AuctionConfig) -> None:
    batch = with_examination(batch, slots)
    a = run_auction(batch, slots, config)
    b = run_auction_reference(batch, slots, config)
    for name in ("slot", "promoted", "price_cpc_micros", "reason", "shortfall"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


@settings(max_examples=150, deadline=None)
@given(batches(), SLOTS, configs())
def test_price_never_exceeds_bid_nor_falls_below_reserve(
    batch: AuctionBatch, slots: int, config: AuctionConfig
) -> None:
    res = run_auction(with_examination(batch, slots), slots, config)
    rows, pos = np.nonzero(res.promoted)
    cols = res.slot[rows, pos]
    price = res.price_cpc_micros[rows, pos]
    assert (price >= config.reserve_cpc_micros).all()
    assert (price <= batch.bid[rows, cols] / batch.pctr[rows, cols]).all()
    assert (res.price_cpc_micros[~res.promoted] == 0).all()


@settings(max_examples=150, deadline=None)
@given(batches(), SLOTS, configs())
def test_allocation_respects_ad_load_dedupe_and_fills_from_the_top(
    batch: AuctionBatch, slots: int, config: AuctionConfig
) -> None:
    res = run_auction(with_examination(batch, slots), slots, config)
    cap = max_ads(slots, config)
    for r in range(res.slot.shape[0]):
        promoted_at = np.flatnonzero(res.promoted[r])
        assert promoted_at.size <= cap
        assert (np.diff(promoted_at) > config.min_ad_spacing).all()
        shown = res.slot[r][res.slot[r] >= 0]
        assert (res.slot[r][: shown.size] == shown).all()  # no gaps before empty slots
        products = batch.product[r, shown]
        assert len(set(products.tolist())) == shown.size  # each product at most once
        assert not res.promoted[r][res.slot[r] < 0].any()
        # reasons: SHOWN exactly for the shown columns, PADDING exactly for padding
        shown_mask = np.zeros(batch.product.shape[1], dtype=bool)
        shown_mask[shown] = True
        assert ((res.reason[r] == Reason.SHOWN) == shown_mask).all()
        assert ((res.reason[r] == Reason.PADDING) == (batch.product[r] == -1)).all()
        # an empty slot means nobody real was left out except duplicates
        if shown.size < slots:
            left = (~shown_mask) & (batch.product[r] >= 0)
            assert (res.reason[r][left] == Reason.DUPLICATE).all()
    assert (res.shortfall[res.reason != Reason.OUTBID] == 0).all()
    assert (res.shortfall >= 0).all()
    if config.alpha == 0:
        assert not res.promoted.any()


@settings(max_examples=200, deadline=None)
@given(st.one_of(batches(max_rows=1, dup_ids=False), CROWDED), SLOTS, configs(), st.data())
def test_raising_ones_bid_never_lowers_ones_slot(
    batch: AuctionBatch, slots: int, config: AuctionConfig, data: st.DataObject
) -> None:
    n = batch.product.shape[1]
    col = data.draw(st.integers(0, n - 1))
    extra = data.draw(st.sampled_from([1.0, 50.0, 100.0, 1_000.0, 1e6]))
    before = run_auction(with_examination(batch, slots), slots, config)
    bid = batch.bid.copy()
    bid[0, col] += extra
    after = run_auction(with_examination(replace(batch, bid=bid), slots), slots, config)
    assert position_of(after, 0, col) <= position_of(before, 0, col)


@settings(max_examples=100, deadline=None)
@given(
    VALUES,
    st.floats(1.0, 1e6),
    PCTRS,
    st.lists(st.floats(0.0, 1.0), max_size=5),
    st.sampled_from([0, 100, 10_000]),
    SLOTS,
    st.sampled_from(["gsp", "vcg"]),
)
def test_lone_bidder_pays_the_reserve(
    rel: float,
    bid_per_click: float,
    pctr: float,
    weaker: list[float],
    reserve: int,
    slots: int,
    mechanism: str,
) -> None:
    # one ad (clearing the reserve) among organic candidates that are no more relevant than it
    n = 1 + len(weaker)
    bid = np.zeros((1, n))
    bid[0, 0] = max(bid_per_click, float(reserve)) * pctr
    batch = AuctionBatch(
        product=np.arange(n, dtype=np.int64)[None, :],
        relevance=np.array([[rel] + [w * rel for w in weaker]]),
        pctr=np.full((1, n), pctr),
        bid=bid,
        campaign=np.array([[0] + [-1] * len(weaker)], dtype=np.int64),
        eligible=np.ones((1, n), dtype=bool),
        budget_ok=np.ones((1, n), dtype=bool),
        examination=1.0 / np.log2(np.arange(slots) + 2.0),
    )
    config = AuctionConfig(alpha=1.0, reserve_cpc_micros=reserve, max_ad_share=1.0, mechanism=mechanism)
    for res in (run_auction(batch, slots, config), run_auction_reference(batch, slots, config)):
        assert res.slot[0, 0] == 0
        assert res.promoted[0, 0]
        assert res.price_cpc_micros[0, 0] == reserve


@settings(max_examples=150, deadline=None)
@given(batches(), SLOTS, configs())
def test_alpha_zero_equals_the_organic_ranking(
    batch: AuctionBatch, slots: int, config: AuctionConfig
) -> None:
    res = run_auction(batch, slots, replace(config, alpha=0.0, mechanism="gsp"))
    assert not res.promoted.any()
    assert (res.price_cpc_micros == 0).all()
    for r in range(batch.product.shape[0]):
        # organic ranking, written independently: best copy per product, sort by relevance then column
        best: dict[int, tuple[float, int]] = {}
        for c, p in enumerate(batch.product[r].tolist()):
            if p < 0:
                continue
            key = (-float(batch.relevance[r, c]), c)
            if p not in best or key < best[p]:
                best[p] = key
        ranking = [c for _, c in sorted(best.values())][:slots]
        expected = ranking + [-1] * (slots - len(ranking))
        assert res.slot[r].tolist() == expected


@settings(max_examples=200, deadline=None)
@given(batches(), configs(mechanism="gsp"))
def test_gsp_and_vcg_agree_on_single_slot_auctions(batch: AuctionBatch, config: AuctionConfig) -> None:
    batch = with_examination(batch, 1)
    gsp = run_auction(batch, 1, config)
    vcg = run_auction(batch, 1, replace(config, mechanism="vcg"))
    np.testing.assert_array_equal(gsp.slot, vcg.slot)
    np.testing.assert_array_equal(gsp.price_cpc_micros, vcg.price_cpc_micros)


@settings(max_examples=150, deadline=None)
@given(batches(), SLOTS, configs(mechanism="gsp"))
def test_vcg_never_charges_more_than_gsp_without_ad_load_limits(
    batch: AuctionBatch, slots: int, config: AuctionConfig
) -> None:
    config = replace(config, max_ad_share=1.0, min_ad_spacing=0)
    batch = with_examination(batch, slots)
    gsp = run_auction(batch, slots, config)
    vcg = run_auction(batch, slots, replace(config, mechanism="vcg"))
    np.testing.assert_array_equal(gsp.slot, vcg.slot)
    assert (vcg.price_cpc_micros <= gsp.price_cpc_micros).all()


@settings(max_examples=150, deadline=None)
@given(CROWDED, st.integers(1, 4), ad_heavy_configs())
def test_outbid_ad_that_adds_its_shortfall_is_shown(
    batch: AuctionBatch, slots: int, config: AuctionConfig
) -> None:
    res = run_auction(batch, slots, config)
    for col in np.flatnonzero(res.reason[0] == Reason.OUTBID):
        short = res.shortfall[0, col]
        live = batch.campaign[0, col] >= 0 and config.alpha > 0
        if not live or not np.isfinite(short):
            continue
        bid = batch.bid.copy()
        bid[0, col] += short * (1 + 1e-9) + 1e-6
        after = run_auction(replace(batch, bid=bid), slots, config)
        assert position_of(after, 0, col) < slots


@settings(max_examples=150, deadline=None)
@given(CROWDED, st.integers(1, 4), ad_heavy_configs())
def test_gsp_price_is_the_minimum_bid_that_keeps_the_slot(
    batch: AuctionBatch, slots: int, config: AuctionConfig
) -> None:
    res = run_auction(batch, slots, config)
    for pos in np.flatnonzero(res.promoted[0]):
        col = res.slot[0, pos]
        price = res.price_cpc_micros[0, pos]
        if price <= config.reserve_cpc_micros:
            continue  # the reserve binds; nothing lower is allowed anyway
        if price < 2:
            continue  # a price of 1 micro: no bid of whole micros >= 0 lies clearly below it
        # bidding clearly below the price (per click) loses the slot, bidding the price keeps it
        pctr = batch.pctr[0, col]
        lower, keep = batch.bid.copy(), batch.bid.copy()
        lower[0, col] = (price - 2) * pctr
        keep[0, col] = min(batch.bid[0, col], (price + 1) * pctr)
        assert position_of(run_auction(replace(batch, bid=lower), slots, config), 0, col) > pos
        assert position_of(run_auction(replace(batch, bid=keep), slots, config), 0, col) == pos
