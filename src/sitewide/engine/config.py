"""The engine's knobs (operator settings); adapters are chosen by ``sitewide.wiring``, not here."""

from __future__ import annotations

from dataclasses import dataclass, field

from sitewide.domain.attribution import DEFAULT_WINDOW_MS, AttributionPolicy
from sitewide.domain.auction import AuctionConfig
from sitewide.domain.eligibility import EligibilityPolicy
from sitewide.domain.settlement import SettlementPolicy
from sitewide.domain.shop_score import ShopScoreConfig
from sitewide.domain.value_calibration import AimPolicy
from sitewide.engine.pacing import PacingConfig

MAX_EVENTS_PER_CALL = 1_000


@dataclass(frozen=True)
class EngineConfig:
    retrieve_k: int = 100
    # an approximate vector index (IVF, the default) is tuned when built so that the top ``retrieve_k`` of sample
    # queries (2–4 random words of products' title, brand and category) reaches this recall against exact
    # search. On the 1M generated catalogue 0.96 on them ↔ ≈ 0.96 on shoppers' intent queries (bench/serving.py,
    # out of sample); each point of recall costs ~15 % more cells scanned
    ann_recall_target: float = 0.96
    # hybrid retrieval for search: up to this many BM25 matches of the query join the candidate row in place of
    # the weakest text-vector matches. Off by default: on the simulator's queries (title prefixes, which the
    # char-n-gram vectors already match well) 20 BM25 matches raised the best achievable top-10 true CTR of a
    # search row by only 2.6 %, and the shipped ranker is trained on vector-only rows
    lexical_k: int = 0
    slots: int = 10
    gmv_weight: float = 0.05  # organic value of an impression = gmv_weight × expected GMV (platform's take)
    # α = 0.05: on the simulated frontier (bench/frontier.py) it keeps ~70–95 % of the ad revenue of α ≥ 1 for
    # 5–10 % less NDCG and no loss of expected GMV; α = 1 cost 19 % of expected GMV and 26 % of NDCG.
    auction: AuctionConfig = field(default_factory=lambda: AuctionConfig(alpha=0.05))
    attribution_window_ms: int = DEFAULT_WINDOW_MS
    encoder_dim: int = 256
    pacing: PacingConfig = field(default_factory=PacingConfig)
    settlement: SettlementPolicy | None = None  # None: the default policy with ``attribution_window_ms``
    # pCTR/pCVR: "learned" = the multi-task ranker checkpoint at ``scorer_path`` (default: the shipped
    # sitewide/data/models/ranker.pt; falls back to the priors when the default file is absent), "priors" =
    # the hand-set SimilarityPriorScorer. A ``scorer=`` object given to the Engine overrides both.
    scorer: str = "learned"
    scorer_path: str | None = None
    # rows of (candidates, similarity, pCTR, pCVR) kept per retrieval key (a search query, or a feed user's
    # history vector): the scorer sees no user features, so a row depends on nothing else and a repeated key
    # is served from memory (about 1.6 kB a row); 0 turns the cache off
    candidate_cache_rows: int = 32_768
    # bid on calibrated expected value: pCTR × pCVR × price × a factor learned online per category from the
    # orders on served ads (sitewide.domain.value_calibration), shrunk toward 1 until ~value_prior_orders
    # orders are in; off = the raw estimate (which ignores examination by position and order quantity)
    calibrate_value: bool = True
    value_prior_orders: float = 20.0
    # the campaign layer's prior weight (orders) toward its category's calibrated value; None: value_prior_orders
    campaign_prior_orders: float | None = None
    # aim each campaign's bidder for the day so that its guarantee window's realised ROI ends at the target
    # (sitewide.domain.value_calibration.window_aim); None: every day's bidder aims at the target itself
    window_aim: AimPolicy | None = field(default_factory=AimPolicy)
    use_eligibility: bool = True  # ineligible products may still show organically, never as ads
    use_shop_score: bool = True  # the shop's delivery multiplier scales its products' auction scores
    # ghost-bid holdouts (sitewide.engine.holdout): the share of each campaign's would-win auctions withheld
    # and logged as ghost wins, for incrementality; 0 = off (per campaign: Engine.holdout.set_share)
    holdout_share: float = 0.0
    holdout_seed: int = 0
    # campaigns whose next day is forecast at each settlement, to calibrate the forecasts' level and band on what
    # then settles (sitewide.engine.forecast); 0 = off (the stated prior band). The service turns it on
    forecast_calibration_campaigns: int = 0
    eligibility_policy: EligibilityPolicy = field(default_factory=EligibilityPolicy)
    shop_score_config: ShopScoreConfig = field(default_factory=ShopScoreConfig)

    def settlement_policy(self) -> SettlementPolicy:
        """The settlement policy in force: ``settlement``, else the default with ``attribution_window_ms``."""
        if isinstance(self.settlement, SettlementPolicy):
            return self.settlement
        return SettlementPolicy(AttributionPolicy(window_ms=self.attribution_window_ms))
