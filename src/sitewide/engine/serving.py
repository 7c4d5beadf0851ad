"""Serving: a batch of requests is candidates → value → bids → one auction → creatives → the served log."""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np

from sitewide.domain.auction import AuctionBatch, Reason
from sitewide.domain.creative_bandit import CreativeRotation
from sitewide.domain.money import Micros
from sitewide.domain.types import (
    BoolArray,
    IntArray,
    ObjectArray,
    RequestKind,
    ServeRequest,
    ServeResult,
    SlotResult,
)
from sitewide.engine.campaigns import CampaignBook
from sitewide.engine.catalogue import Catalogue
from sitewide.engine.config import EngineConfig
from sitewide.engine.holdout import Holdout, TrafficSample
from sitewide.engine.retrieval import Retrieval
from sitewide.engine.value import ValueBook
from sitewide.ports import Clock, RequestBatch, ServedBatch, Store


@dataclass(eq=False)
class Serving:
    store: Store
    config: EngineConfig
    catalogue: Catalogue
    retrieval: Retrieval
    campaigns: CampaignBook
    values: ValueBook
    creatives: CreativeRotation  # approved creatives per product, Thompson sampling
    holdout: Holdout = field(default_factory=Holdout)  # ghost-bid holdouts (incrementality)
    traffic: TrafficSample = field(default_factory=TrafficSample)  # recent requests, for forecast replays
    _creative_rng: np.random.Generator = field(
        init=False, default_factory=lambda: np.random.default_rng(zlib.crc32(b"creatives"))
    )

    def serve_batch(self, batch: RequestBatch) -> ServedBatch:
        r = len(batch.request_ids)
        cat, book, values = self.catalogue, self.campaigns, self.values
        if r == 0 or not cat.ids:
            z = np.zeros((r, batch.slots))
            return ServedBatch(
                np.full((r, batch.slots), -1, np.int64),
                z.astype(bool),
                np.full((r, batch.slots), -1, np.int64),
                z.astype(np.int64),
                z,
                z,
            )
        book.advance(batch.ts_ms)
        self.traffic.note(batch)
        pacer = book.pacer
        cand, sim, pctr, pcvr = self.retrieval.candidates(batch)
        safe = np.maximum(cand, 0)
        raw = pctr * pcvr * cat.price[safe]  # expected GMV per impression, micros (uncalibrated)
        camp = np.where(cand >= 0, book.product_campaign[safe], -1)
        xr = book.experiments
        if xr:  # experiments: each user's auction holds only their arm's campaign (budget split)
            camp = xr.route(cand, camp, batch.user_ids)
        has = camp >= 0
        camp_ids = book.ids
        n_camp = len(camp_ids)
        cs = np.where(has, camp, n_camp)  # sentinel row n_camp: no campaign
        if self.config.calibrate_value:
            values.calib.refresh()
            value_cat = raw * values.calib.category_factors()[cat.category[safe]]
            value = value_cat * np.append(values.campaign_factors(camp_ids), 1.0)[cs]
        else:
            value_cat = value = raw
        mult = np.append(pacer.multipliers, 0.0)  # the bidders' multipliers for this tick
        bid = np.where(has, value * mult[cs], 0.0)
        budget_ok = np.append(pacer.budget_ok(), True)[cs]
        if xr:  # an experiment arm enters only while its spend cap has room for this request
            bid_cpc = bid / np.maximum(pctr, 1e-9)
            budget_ok &= xr.capped(cand, camp, batch.user_ids, bid_cpc, batch.slots, batch.ts_ms)
        pacer.offered(camp[has], value[has])
        # Shop experience: scaling pCTR, bid and relevance by the same multiplier m scales both scores by m
        # while the bid per click (bid / pCTR) and so every per-click price stay in the merchant's terms.
        m = np.where(cand >= 0, cat.delivery[safe], 1.0)
        # Organic value: expected conversions at a damped order value sqrt(price × catalogue median), so
        # that organic ranking follows relevance and conversion more than price (ads pay for price).
        organic = pctr * pcvr * np.sqrt(cat.price[safe] * cat.median_price)
        ab = AuctionBatch(
            product=cand,
            relevance=self.config.gmv_weight * organic * m,
            pctr=np.clip(np.where(cand >= 0, pctr * m, 1e-9), 1e-9, 1.0),
            bid=bid * m,
            campaign=camp,
            eligible=np.where(cand >= 0, cat.eligible[safe], False),
            budget_ok=budget_ok,
        )
        res = self.holdout.auction(ab, batch, camp_ids, self.config.auction)  # run_auction + ghost holdouts
        shown = res.slot >= 0
        col = np.maximum(res.slot, 0)
        prod = np.where(shown, np.take_along_axis(cand, col, axis=1), -1)
        camp_shown = np.where(res.promoted, np.take_along_axis(camp, col, axis=1), -1)
        won = res.promoted
        if xr:
            xr.served(prod, camp_shown, batch.user_ids, res.price_cpc_micros, batch.ts_ms)
        values.noted_served(camp_ids, won, prod, camp_shown, res.slot, raw, value_cat, value)
        pacer.served(
            camp_shown[won],
            res.price_cpc_micros[won],
            np.take_along_axis(pctr, col, axis=1)[won],
            np.take_along_axis(value, col, axis=1)[won],
        )
        variant = xr.variants(prod, batch.user_ids) if xr else None
        creative = self._choose_creatives(batch, prod, res.promoted, variant)
        if xr:  # an arm naming one of the product's approved creatives shows it there
            forced, pinned = xr.arm_creatives(prod, res.promoted, batch.user_ids)
            creative = np.where(pinned, forced, creative)
        return ServedBatch(
            product_idx=prod,
            promoted=res.promoted,
            campaign_idx=camp_shown,
            price_cpc_micros=np.where(res.promoted, res.price_cpc_micros, 0).astype(np.int64),
            pctr=np.where(shown, np.take_along_axis(pctr, col, axis=1), 0.0),
            pcvr=np.where(shown, np.take_along_axis(pcvr, col, axis=1), 0.0),
            candidates=cand,
            candidate_campaign=camp,
            reason=res.reason,
            shortfall=res.shortfall,
            bid=ab.bid,
            bid_pctr=ab.pctr,
            variant=variant,
            creative=creative,
        )

    def _choose_creatives(
        self,
        batch: RequestBatch,
        prod: IntArray,
        promoted: BoolArray,
        variant: list[list[str | None]] | None,
    ) -> ObjectArray:
        """After the auction: the creative of each served promoted slot (``[R, S]`` ids, None elsewhere),
        chosen per product and placement by the rotation's Thompson sampling among approved creatives. A slot
        whose product is in a running creative experiment (``variant`` set) shows the experiment's arm: the
        bandit steps aside there, so that it does not mix its own choice into the test."""
        free = promoted & (prod >= 0)
        if variant is not None:
            free &= np.array([[v is None for v in row] for row in variant], dtype=bool).reshape(prod.shape)
        out = np.full(prod.shape, None, dtype=object)
        ri, si = np.nonzero(free)
        if len(ri):
            out[ri, si] = self.creatives.choose(
                [batch.request_ids[i] for i in ri.tolist()],
                [self.catalogue.ids[p] for p in prod[ri, si].tolist()],
                [RequestKind(int(batch.kinds[i])).label for i in ri.tolist()],
                self._creative_rng,
            )
        return out

    def serve(self, request: ServeRequest, clock: Clock) -> ServeResult:
        """One request (the API's ``POST /serve``; ``ts_ms`` 0 = now); a batch of one under the hood."""
        batch = RequestBatch(
            request_ids=[request.request_id],
            user_ids=[request.user_id],
            kinds=np.array([int(request.kind)]),
            queries=[request.query],
            ts_ms=request.ts_ms or clock.now_ms(),
            slots=request.slots,
        )
        sb = self.serve_batch(batch)
        ids, camp_ids = self.catalogue.ids, self.campaigns.ids
        slots: list[SlotResult] = []
        chosen = sb.creative if sb.creative is not None else np.full(sb.product_idx.shape, None, dtype=object)
        for s in range(request.slots):
            pi = int(sb.product_idx[0, s])
            if pi < 0:
                continue
            ci = int(sb.campaign_idx[0, s])
            slots.append(
                SlotResult(
                    position=len(slots) + 1,
                    product_id=ids[pi],
                    promoted=bool(sb.promoted[0, s]),
                    campaign_id=camp_ids[ci] if ci >= 0 else None,
                    price_micros=Micros(int(sb.price_cpc_micros[0, s])),
                    pctr=float(sb.pctr[0, s]),
                    pcvr=float(sb.pcvr[0, s]),
                    score=0.0,
                    variant=sb.variant[0][s] if sb.variant is not None else None,
                    creative_id=chosen[0, s],
                )
            )
        losers: list[tuple[str, str]] = []
        cand, reason = sb.candidates, sb.reason
        if cand is not None and reason is not None:
            for j in range(cand.shape[1]):
                code = int(reason[0, j])
                if cand[0, j] >= 0 and code not in (Reason.SHOWN, Reason.PADDING):
                    losers.append((ids[int(cand[0, j])], Reason(code).name.lower()))
        return ServeResult(request.request_id, tuple(slots), tuple(losers))
