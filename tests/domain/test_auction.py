"""Hand-worked examples of the sitewide auction: allocation, GSP/VCG prices, reasons, validation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pytest

from sitewide.domain.auction import (
    AuctionBatch,
    AuctionConfig,
    AuctionResult,
    Reason,
    max_ads,
    run_auction,
)
from sitewide.domain.auction_reference import run_auction_reference
from sitewide.domain.types import ValidationError


def one_request(
    relevance: Sequence[float],
    bid: Sequence[float],
    *,
    pctr: Sequence[float] | None = None,
    product: Sequence[int] | None = None,
    campaign: Sequence[int] | None = None,
    eligible: Sequence[bool] | None = None,
    budget_ok: Sequence[bool] | None = None,
    examination: Sequence[float] | None = None,
) -> AuctionBatch:
    n = len(relevance)
    return AuctionBatch(
        product=np.array([product if product is not None else list(range(n))], dtype=np.int64),
        relevance=np.array([relevance], dtype=np.float64),
        pctr=np.array([pctr if pctr is not None else [0.5] * n], dtype=np.float64),
        bid=np.array([bid], dtype=np.float64),
        campaign=np.array(
            [campaign if campaign is not None else [0 if b > 0 else -1 for b in bid]], dtype=np.int64
        ),
        eligible=np.array([eligible if eligible is not None else [True] * n]),
        budget_ok=np.array([budget_ok if budget_ok is not None else [True] * n]),
        examination=None if examination is None else np.array(examination, dtype=np.float64),
    )


def both(batch: AuctionBatch, slots: int, config: AuctionConfig) -> AuctionResult:
    """Run both paths, check they agree exactly, return the batch result."""
    a = run_auction(batch, slots, config)
    b = run_auction_reference(batch, slots, config)
    for name in ("slot", "promoted", "price_cpc_micros", "reason", "shortfall"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    return a


LOW_RESERVE = AuctionConfig(alpha=1.0, reserve_cpc_micros=100, max_ad_share=1.0)


def test_gsp_pays_the_next_score_per_click() -> None:
    # three pure ads, pCTR 0.5: per-impression bids 300, 200, 100 -> per-click 400 and 200 for the top two
    res = both(one_request([0, 0, 0], [300, 200, 100]), 2, LOW_RESERVE)
    assert res.slot[0].tolist() == [0, 1]
    assert res.promoted[0].tolist() == [True, True]
    assert res.price_cpc_micros[0].tolist() == [400, 200]
    assert res.reason[0].tolist() == [Reason.SHOWN, Reason.SHOWN, Reason.OUTBID]
    # candidate 2 needs 100 more per impression to tie the weakest winner (score 200)
    assert res.shortfall[0, 2] == pytest.approx(100.0)


def test_relevance_lowers_the_price_an_ad_pays() -> None:
    # the ad with relevance 150 needs only 200 - 150 = 50 of bid to keep slot 0 against the next score 200
    res = both(one_request([150, 0], [300, 200]), 1, LOW_RESERVE)
    assert res.slot[0, 0] == 0
    assert res.price_cpc_micros[0, 0] == 100  # 50 per impression / pCTR 0.5


def test_ad_that_wins_on_relevance_alone_pays_the_reserve() -> None:
    res = both(one_request([1000, 300], [50, 0]), 2, LOW_RESERVE)
    assert res.promoted[0].tolist() == [True, False]
    assert res.price_cpc_micros[0].tolist() == [100, 0]


def test_organic_slots_are_free_and_never_promoted() -> None:
    res = both(one_request([500, 400, 300], [0, 0, 0]), 3, LOW_RESERVE)
    assert res.slot[0].tolist() == [0, 1, 2]
    assert not res.promoted.any()
    assert (res.price_cpc_micros == 0).all()


def test_organic_result_outranks_an_ad_with_lower_total_score() -> None:
    res = both(one_request([500, 100, 0], [0, 300, 0]), 2, LOW_RESERVE)
    assert res.slot[0].tolist() == [0, 1]
    assert res.promoted[0].tolist() == [False, True]
    # the ad keeps slot 1 against the organic candidate 2 (score 0): needs no bid -> reserve
    assert res.price_cpc_micros[0, 1] == 100


def test_alpha_zero_is_organic_ranking() -> None:
    cfg = replace(LOW_RESERVE, alpha=0.0)
    res = both(one_request([100, 900, 500], [10_000, 0, 10_000]), 3, cfg)
    assert res.slot[0].tolist() == [1, 2, 0]
    assert not res.promoted.any()


def test_alpha_weights_the_ad_against_relevance() -> None:
    batch = one_request([500, 100], [0, 300])
    assert both(batch, 1, replace(LOW_RESERVE, alpha=1.0)).slot[0, 0] == 0
    assert both(batch, 1, replace(LOW_RESERVE, alpha=2.0)).slot[0, 0] == 1


def test_reserve_blocks_ads_but_not_organic_display() -> None:
    # bid per click = 40 / 0.5 = 80 < reserve 100: competes on relevance alone and is shown organically
    res = both(one_request([200, 100], [40, 0]), 2, LOW_RESERVE)
    assert res.slot[0].tolist() == [0, 1]
    assert not res.promoted.any()
    res = both(one_request([50, 100], [40, 0]), 1, LOW_RESERVE)
    assert res.reason[0].tolist() == [Reason.BELOW_RESERVE, Reason.SHOWN]


def test_ad_load_cap_limits_promoted_slots() -> None:
    cfg = AuctionConfig(alpha=1.0, reserve_cpc_micros=100, max_ad_share=0.5)
    res = both(one_request([0, 0, 0, 0, 10, 5], [900, 800, 700, 600, 0, 0]), 4, cfg)
    assert res.promoted.sum() == max_ads(4, cfg) == 2
    # slots: two ads, then the organic ones outrank ads that may no longer use their bid
    assert res.slot[0].tolist() == [0, 1, 4, 5]
    assert res.reason[0, 2] == Reason.AD_LOAD_CAP
    assert res.reason[0, 3] == Reason.AD_LOAD_CAP


def test_ad_blocked_by_the_cap_can_still_show_organically() -> None:
    cfg = AuctionConfig(alpha=1.0, reserve_cpc_micros=100, max_ad_share=0.0)
    res = both(one_request([300, 200], [1000, 0]), 2, cfg)
    assert res.slot[0].tolist() == [0, 1]
    assert not res.promoted.any()


def test_min_spacing_keeps_organic_slots_between_ads() -> None:
    cfg = AuctionConfig(alpha=1.0, reserve_cpc_micros=100, max_ad_share=1.0, min_ad_spacing=2)
    res = both(one_request([0, 0, 0, 30, 20, 10], [900, 800, 700, 0, 0, 0]), 6, cfg)
    assert res.promoted[0].tolist() == [True, False, False, True, False, False]
    assert res.slot[0].tolist() == [0, 3, 4, 1, 5, 2]


def test_duplicate_keeps_the_best_copy() -> None:
    # product 7 appears as organic (relevance 300) and as an ad (relevance 300 + bid 200): the ad copy wins
    batch = one_request([300, 300, 100], [0, 200, 0], product=[7, 7, 8])
    res = both(batch, 2, LOW_RESERVE)
    assert res.slot[0].tolist() == [1, 2]
    assert res.reason[0].tolist() == [Reason.DUPLICATE, Reason.SHOWN, Reason.SHOWN]


def test_every_unshown_candidate_gets_the_most_specific_reason() -> None:
    batch = one_request(
        relevance=[1000, 10, 10, 10, 10, 10, 0],
        bid=[0, 500, 500, 20, 0, 60, 0],
        campaign=[-1, 0, 1, 2, -1, 3, -1],
        eligible=[True, False, True, True, True, True, True],
        budget_ok=[True, True, False, True, True, True, True],
        product=[1, 2, 3, 4, 5, 6, -1],
    )
    res = both(batch, 1, LOW_RESERVE)
    assert res.reason[0].tolist() == [
        Reason.SHOWN,
        Reason.INELIGIBLE,
        Reason.BUDGET_EXHAUSTED,
        Reason.BELOW_RESERVE,
        Reason.OUTBID,
        Reason.OUTBID,
        Reason.PADDING,
    ]
    assert res.shortfall[0, 4] == pytest.approx(990.0)  # organic: relevance gap to the winner
    assert res.shortfall[0, 5] == pytest.approx(930.0)  # ad: 1000 - (10 + 60) more bid per impression
    assert res.shortfall[0, :4].tolist() == [0.0, 0.0, 0.0, 0.0]


def test_empty_slots_when_candidates_run_out() -> None:
    res = both(one_request([5, 3], [0, 0], product=[1, -1]), 3, LOW_RESERVE)
    assert res.slot[0].tolist() == [0, -1, -1]
    assert res.reason[0].tolist() == [Reason.SHOWN, Reason.PADDING]


def test_vcg_charges_the_externality_on_two_slots() -> None:
    # pure ads 300, 200, 100 with examination 1.0 and 0.5, pCTR 0.5:
    # slot 1 pays 100 per impression (as GSP); slot 0 displaces 200 to slot 1 (loses 0.5 * 200) and 100 out of
    # slot 1 (0.5 * 100): externality (1*200 + 0.5*100) - 0.5*200 = 150 per impression -> 300 per click
    batch = one_request([0, 0, 0], [300, 200, 100], examination=[1.0, 0.5])
    res = both(batch, 2, replace(LOW_RESERVE, mechanism="vcg"))
    assert res.price_cpc_micros[0].tolist() == [300, 200]
    gsp = both(batch, 2, LOW_RESERVE)
    assert gsp.price_cpc_micros[0].tolist() == [400, 200]


def test_prices_are_int64_micros() -> None:
    res = both(one_request([0, 0], [333.3, 111.1], pctr=[0.3, 0.7]), 1, LOW_RESERVE)
    assert res.price_cpc_micros.dtype == np.int64
    assert res.price_cpc_micros[0, 0] == round(111.1 / 0.3)


def test_batch_rows_are_independent() -> None:
    a = one_request([0, 0, 0], [300, 200, 100])
    b = one_request([900, 0, 0], [0, 50, 100])
    stacked = AuctionBatch(
        **{f: np.vstack([getattr(a, f), getattr(b, f)]) for f in ("product", "relevance", "pctr", "bid")},
        campaign=np.vstack([a.campaign, b.campaign]),
        eligible=np.vstack([a.eligible, b.eligible]),
        budget_ok=np.vstack([a.budget_ok, b.budget_ok]),
    )
    res = both(stacked, 2, LOW_RESERVE)
    ra, rb = both(a, 2, LOW_RESERVE), both(b, 2, LOW_RESERVE)
    np.testing.assert_array_equal(res.slot, np.vstack([ra.slot, rb.slot]))
    np.testing.assert_array_equal(res.price_cpc_micros, np.vstack([ra.price_cpc_micros, rb.price_cpc_micros]))


# ------------------------------------------------------------------------------------------ validation


@pytest.mark.parametrize(
    "change",
    [
        {"relevance": np.array([[np.nan, 1.0]])},
        {"bid": np.array([[-1.0, 0.0]])},
        {"bid": np.array([[np.inf, 0.0]])},
        {"pctr": np.array([[0.0, 0.5]])},
        {"pctr": np.array([[1.5, 0.5]])},
        {"pctr": np.array([[np.nan, 0.5]])},
        {"product": np.array([[-2, 1]])},
        {"bid": np.array([[1.0, 0.0, 0.0]])},
        {"relevance": np.array([1.0, 2.0])},
        {"product": np.array([[0.5, 1.0]])},
    ],
    ids=[
        "nan-relevance",
        "negative-bid",
        "inf-bid",
        "zero-pctr",
        "pctr-above-one",
        "nan-pctr",
        "bad-product",
        "shape",
        "1d",
        "float-ids",
    ],
)
def test_bad_input_raises_validation_error(change: dict[str, np.ndarray]) -> None:
    batch = replace(one_request([1.0, 2.0], [100.0, 0.0]), **change)
    with pytest.raises(ValidationError):
        run_auction(batch, 1, LOW_RESERVE)
    with pytest.raises(ValidationError):
        run_auction_reference(batch, 1, LOW_RESERVE)


def test_padding_may_hold_any_values() -> None:
    batch = one_request([1.0, np.nan], [100.0, -5.0], pctr=[0.5, 0.0], product=[3, -1])
    res = both(batch, 1, LOW_RESERVE)
    assert res.reason[0].tolist() == [Reason.SHOWN, Reason.PADDING]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"alpha": -1.0},
        {"alpha": float("nan")},
        {"reserve_cpc_micros": -1},
        {"reserve_cpc_micros": 1.5},
        {"max_ad_share": 1.2},
        {"min_ad_spacing": -1},
        {"mechanism": "first-price"},
    ],
)
def test_bad_config_raises_validation_error(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        AuctionConfig(**kwargs)  # type: ignore[arg-type]


def test_vcg_needs_examination_probabilities() -> None:
    with pytest.raises(ValidationError):
        run_auction(one_request([1.0], [100.0]), 1, replace(LOW_RESERVE, mechanism="vcg"))
    with pytest.raises(ValidationError):  # wrong length
        run_auction(one_request([1.0], [100.0], examination=[1.0, 0.5]), 1, LOW_RESERVE)
    with pytest.raises(ValidationError):  # increasing with position
        run_auction(one_request([1.0], [100.0], examination=[0.5, 0.9]), 2, LOW_RESERVE)


def test_slots_must_be_positive() -> None:
    with pytest.raises(ValidationError):
        run_auction(one_request([1.0], [0.0]), 0, LOW_RESERVE)


def test_large_batches_split_into_blocks_give_the_same_result(monkeypatch: pytest.MonkeyPatch) -> None:
    import sitewide.domain.auction as auction

    rng = np.random.default_rng(7)
    r, n = 150, 10
    promoted = rng.random((r, n)) < 0.5
    batch = AuctionBatch(
        product=rng.integers(-1, 12, size=(r, n)),
        relevance=rng.uniform(0, 1000, size=(r, n)),
        pctr=rng.uniform(0.01, 0.5, size=(r, n)),
        bid=np.where(promoted, rng.uniform(0, 500, size=(r, n)), 0.0),
        campaign=np.where(promoted, 0, -1),
        eligible=rng.random((r, n)) < 0.9,
        budget_ok=rng.random((r, n)) < 0.9,
    )
    whole = run_auction(batch, 4, LOW_RESERVE)
    monkeypatch.setattr(auction, "_BLOCK_CELLS", 1)  # 64-row blocks: 3 of them
    blocked = run_auction(batch, 4, LOW_RESERVE)
    reference = run_auction_reference(batch, 4, LOW_RESERVE)
    for name in ("slot", "promoted", "price_cpc_micros", "reason", "shortfall"):
        np.testing.assert_array_equal(getattr(blocked, name), getattr(whole, name), err_msg=name)
        np.testing.assert_array_equal(getattr(blocked, name), getattr(reference, name), err_msg=name)


def test_mismatched_row_counts_are_rejected_before_splitting() -> None:
    batch = one_request([1.0, 2.0], [0.0, 0.0])
    bad = replace(batch, relevance=np.zeros((3, 2)))
    with pytest.raises(ValidationError):
        run_auction(bad, 1, LOW_RESERVE)


def test_absurd_bid_per_click_is_rejected_rather_than_overflowing() -> None:
    with pytest.raises(ValidationError):
        run_auction(one_request([0.0], [1e18], pctr=[1e-3]), 1, LOW_RESERVE)
