"""Presenters: domain objects and use-case results → the API's response bodies. Shared by the JSON routes and
the dashboard's templates, so that both show the same fields."""

from __future__ import annotations

import math
from collections import Counter

from sitewide.api import fields_of
from sitewide.api.creative import CreativeOut, ProductCreativesOut, SlotCreativeOut
from sitewide.api.experiments import (
    ArmOut,
    ArmStatementOut,
    ComparisonOut,
    ExperimentOut,
    ResultOut,
)
from sitewide.api.reports import (
    AuctionLossesOut,
    CampaignSettlementOut,
    LossByProductOut,
    LossReasonOut,
    LossSampleOut,
    SettleOut,
)
from sitewide.api.schemas import (
    AppealOut,
    CampaignOut,
    EligibilityOut,
    MerchantOut,
    ProductOut,
    ReasonOut,
    ServeOut,
    ShopOut,
    ShopScoreOut,
    SlotOut,
)
from sitewide.domain.accounts import Appeal, Merchant
from sitewide.domain.eligibility import EligibilityDecision
from sitewide.domain.experiments import Experiment
from sitewide.domain.settlement import SettlementReport
from sitewide.domain.shop_score import ShopScore
from sitewide.domain.types import Campaign, Product, ServeResult, Shop
from sitewide.engine import Engine
from sitewide.service.usecases.catalogue import is_eligible
from sitewide.service.usecases.creatives import ProductCreatives
from sitewide.service.usecases.experiments import ExperimentResult
from sitewide.service.usecases.reports import LossReport


def merchant_out(m: Merchant) -> MerchantOut:
    return fields_of(MerchantOut, m)


def shop_out(s: Shop) -> ShopOut:
    return fields_of(ShopOut, s)


def campaign_out(c: Campaign) -> CampaignOut:
    return fields_of(CampaignOut, c, product_ids=list(c.product_ids), status=c.status.value)


def product_out(engine: Engine, p: Product, owner: str) -> ProductOut:
    return fields_of(ProductOut, p, merchant_id=owner, eligible=is_eligible(engine, p.id))


def eligibility_out(d: EligibilityDecision) -> EligibilityOut:
    return fields_of(
        EligibilityOut,
        d,
        reasons=[fields_of(ReasonOut, r, numbers=dict(r.numbers)) for r in d.reasons],
        failed=[r.code for r in d.reasons if not r.passed],
    )


def shop_score_out(shop_id: str, sc: ShopScore | None) -> ShopScoreOut:
    """A shop without service metrics is not scored: its multiplier is the neutral 1.0."""
    if sc is None:
        return ShopScoreOut(
            shop_id=shop_id, scored=False, score=None, multiplier=1.0, config_version=None, factors=[]
        )
    return fields_of(ShopScoreOut, sc, shop_id=shop_id, scored=True, factors=list(sc.factors))


def appeal_out(a: Appeal) -> AppealOut:
    return fields_of(AppealOut, a)


def losses_out(r: LossReport) -> AuctionLossesOut:
    return AuctionLossesOut(
        campaign_id=r.campaign_id,
        by_reason=[LossReasonOut(reason=reason, count=n) for reason, n in r.by_reason],
        by_product=[LossByProductOut(product_id=p, reason=reason, count=n) for p, reason, n in r.by_product],
        samples=[fields_of(LossSampleOut, s) for s in r.samples],
    )


def slot_creative(engine: Engine, creative_id: str | None) -> SlotCreativeOut | None:
    if creative_id is None:
        return None
    c = engine.creatives.get(creative_id)
    d = c.draft
    url = f"/creatives/banners/{c.banner}" if c.banner else None
    return SlotCreativeOut(id=c.id, title=d.title, points=list(d.points), lang=d.lang.value, banner_url=url)


def serve_out(engine: Engine, res: ServeResult) -> ServeOut:
    slots = [fields_of(SlotOut, s, creative=slot_creative(engine, s.creative_id)) for s in res.slots]
    return ServeOut(request_id=res.request_id, slots=slots, not_shown=list(res.losers))


def settle_out(rep: SettlementReport) -> SettleOut:
    return fields_of(
        SettleOut,
        rep,
        campaigns=[CampaignSettlementOut.of(c) for c in rep.campaigns],
        transactions=[t.id for t in rep.transactions],
    )


def product_creatives_out(v: ProductCreatives) -> ProductCreativesOut:
    why = Counter(r for c in v.creatives for r in c.check.rules)
    return ProductCreativesOut(
        product_id=v.product_id,
        pinned=v.pinned,
        approved=sum(c.check.passed for c in v.creatives),
        rejected=sum(not c.check.passed for c in v.creatives),
        rejected_by_rule=dict(why),
        review_aspects=[(a.aspect, a.positive, a.negative) for a in v.last.evidence.aspects]
        if v.last
        else [],
        creatives=[CreativeOut.of(c, v.stats, v.pinned) for c in v.creatives],
    )


def _num(v: float) -> float | None:
    return round(v, 6) if math.isfinite(v) else None


def experiment_out(e: Experiment) -> ExperimentOut:
    d = e.to_dict()
    return ExperimentOut(
        **{k: v for k, v in d.items() if k not in ("arms", "salt")},  # type: ignore[arg-type]
        arms=[ArmOut(**a) for a in d["arms"]],  # type: ignore[attr-defined]
    )


def result_out(r: ExperimentResult) -> ResultOut:
    comps = []
    for m, cs in r.comparisons.items():
        for arm, c in zip(r.experiment.arms[1:], cs, strict=True):
            comps.append(
                ComparisonOut(
                    metric=m.value,
                    arm=arm.name,
                    control=round(c.control, 9),
                    treatment=round(c.treatment, 9),
                    lift=_num(c.lift),
                    lift_halfwidth=_num(c.lift_halfwidth),
                    fixed_lift_halfwidth=_num(c.fixed_halfwidth / abs(c.control)) if c.control else None,
                    significant=c.significant,
                    variance_reduction=round(c.variance_reduction, 4),
                    users_control=c.users_control,
                    users_treatment=c.users_treatment,
                )
            )
    return ResultOut(
        experiment=experiment_out(r.experiment),
        verdict=r.verdict,
        leader=r.leader,
        arms=list(r.totals),
        comparisons=comps,
        statement=[fields_of(ArmStatementOut, x) for x in r.statement],
    )
