"""The ROI guarantee written on incremental ROI (issue 21): the contract option, judged with the interval of the
window's ghost-bid holdout estimate; it pays when the incremental ROI clearly misses and not otherwise, through
the engine's own settlement, and the merchant sees the judgement and the contract's basis."""

from __future__ import annotations

from decimal import Decimal

import pytest

from sitewide.domain.guarantee import INCREMENTAL_LEVEL, GuaranteeContract, incremental_payout_due
from sitewide.domain.time import DAY_MS, day_str
from sitewide.domain.types import Estimate, ValidationError
from sitewide.engine import Engine, EngineConfig
from sitewide.simulator.story import Story
from sitewide.simulator.world import World
from sitewide.wiring import world_engine

ON_INC = GuaranteeContract(basis="incremental_roi", trigger_roi_factor=Decimal("0.8"))
T = Decimal("2")  # target ROI: the trigger is 0.8 × 2 = 1.6


def test_it_pays_only_when_the_whole_interval_misses() -> None:
    spend = 1_000_000
    clear_miss = incremental_payout_due(ON_INC, T, spend, 10, Estimate(0.5, 0.2, 1.0))
    # the smallest shortfall the evidence allows: spend − high × spend ÷ target = 1.0 − 1.0/2
    assert clear_miss[:2] == (True, 500_000) and "interval" in clear_miss[2]
    met = incremental_payout_due(ON_INC, T, spend, 10, Estimate(2.5, 1.8, 3.2))
    assert met[:2] == (False, 0) and "meets" in met[2]
    # the point misses, the high end does not
    unclear = incremental_payout_due(ON_INC, T, spend, 10, Estimate(1.0, 0.1, 2.4))
    assert unclear[:2] == (False, 0) and "cannot be told" in unclear[2]
    assert incremental_payout_due(ON_INC, T, spend, 10, None)[:2] == (False, 0)  # no estimate: nothing
    assert incremental_payout_due(ON_INC, T, spend, 10, Estimate(0.5, 0.2, None))[:2] == (False, 0)
    assert incremental_payout_due(ON_INC, T, 0, 10, Estimate(0.5, 0.2, 1.0))[:2] == (False, 0)
    # the contract's other terms hold: orders required, caps
    few = GuaranteeContract(basis="incremental_roi", min_orders=20)
    assert incremental_payout_due(few, T, spend, 10, Estimate(0.1, -0.5, 0.2))[:2] == (False, 0)
    capped = GuaranteeContract(basis="incremental_roi", cap_micros=100_000)
    assert incremental_payout_due(capped, T, spend, 10, Estimate(-1.0, -2.0, -0.5))[:2] == (True, 100_000)


def test_the_basis_is_part_of_the_contract_document() -> None:
    doc = ON_INC.to_dict()
    assert doc["trigger"]["basis"] == "incremental_roi"  # type: ignore[index]
    assert doc["payout"]["formula"] == "spend - incremental_gmv_high / target"  # type: ignore[index]
    assert GuaranteeContract.from_dict(doc) == ON_INC
    old = GuaranteeContract().to_dict()
    del old["trigger"]["basis"]  # type: ignore[attr-defined]
    assert GuaranteeContract.from_dict(old).basis == "roi"  # documents written before the option
    with pytest.raises(ValidationError):
        GuaranteeContract(basis="vibes")


@pytest.fixture(scope="module")
def settled(holdout_world: World) -> tuple[Engine, dict[str, GuaranteeContract]]:
    """One market day with a 30 % holdout; half the campaigns promise an incremental ROI no ad reaches
    (1,000), half one every estimate meets (-1,000 is below any low end); every one on incremental ROI."""
    engine = world_engine(holdout_world, EngineConfig(scorer="priors", holdout_share=0.3, holdout_seed=7))
    contracts = {}
    for i, cid in enumerate(engine.campaign_ids()):
        target = Decimal("1000") if i % 2 == 0 else Decimal("0.001")
        contracts[cid] = engine.set_guarantee(
            cid, GuaranteeContract(basis="incremental_roi", target_roi=target)
        )
    Story(holdout_world, engine).run()
    return engine, contracts


def test_settlement_pays_a_missed_incremental_roi_and_nothing_else(
    settled: tuple[Engine, dict[str, GuaranteeContract]], holdout_world: World
) -> None:
    engine, contracts = settled
    day = day_str(holdout_world.base_ms // DAY_MS)
    evals = {cid: ev for (cid, _), ev in engine.store.guarantee_evaluations(day, day).items()}
    start = holdout_world.base_ms
    paid = unpaid = 0
    for cid, contract in contracts.items():
        ev = evals.get(cid)
        if ev is None or ev.spend_micros == 0:
            continue
        inc = engine.incrementality(cid, start, start + DAY_MS, level=INCREMENTAL_LEVEL).incremental_roi
        assert inc is not None and inc.high is not None
        # judged on the window's holdout estimate with its interval, not on the credited GMV
        want = incremental_payout_due(contract, ev.target_roi, ev.spend_micros, ev.orders, inc)
        assert (ev.triggered, ev.due_micros, ev.reason) == want
        assert "incremental ROI" in ev.reason and '"basis": "incremental_roi"' in ev.contract
        if contract.target_roi == Decimal("1000"):
            assert ev.triggered and 0 < ev.due_micros <= ev.spend_micros
            paid += ev.due_micros
        else:
            assert not ev.triggered and ev.due_micros == 0
            unpaid += 1
    assert paid > 0 and unpaid > 0
    # what was due is what the ledger credited the merchants
    credit = sum(v for k, v in engine.store.balances().items() if k.endswith(":ad_credit"))
    assert abs(credit) == paid
