"""Serving: a batch of requests is candidates → value → bids → one auction → creatives → the served log."""

from __future__ import annotations

import threading
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from sitewide.domain.auction import AuctionBatch, Reason
from sitewide.domain.creative_bandit import CreativeRotation
from sitewide.domain.money import Micros
from sitewide.domain.types import (
    BoolArray,
    FloatArray,
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
from sitewide.engine.retrieval import Retrieval, Rows, StageTimer
from sitewide.engine.value import ValueBook
from sitewide.ports import Clock, RequestBatch, ServedBatch, Store

_REASON_NAME = {int(r): r.name.lower() for r in Reason}
_KIND_LABEL = {int(k): k.label for k in RequestKind}  # a request kind's code → its placement name


@dataclass(eq=False)
class Serving:
    store: Store
    config: EngineConfig
    catalogue: Catalogue
    retrieval: Retrieval
    campaigns: CampaignBook
    values: ValueBook
    creatives: CreativeRotation  # approved creatives per product, Thompson sampling
    holdout: Holdout  # ghost-bid holdouts (incrementality)
    traffic: TrafficSample = field(default_factory=TrafficSample)  # recent requests, for forecast replays
    _creative_rng: np.random.Generator = field(
        init=False, default_factory=lambda: np.random.default_rng(zlib.crc32(b"creatives"))
    )
    # the short critical section of a request (after retrieval and scoring), and what campaign edits and
    # events hold while they change pacing state; not held during retrieval
    state_lock: threading.Lock = field(init=False, default_factory=threading.Lock)

    def serve_batch(self, batch: RequestBatch) -> ServedBatch:
        return self._serve(batch)[0]

    def _serve(self, batch: RequestBatch) -> tuple[ServedBatch, list[str]]:
        """The served batch and the campaign ids its ``campaign_idx`` refers to (as they were in its auction:
        a campaign edit right after cannot shift them)."""
        r = len(batch.request_ids)
        if r == 0 or not self.catalogue.ids:
            z = np.zeros((r, batch.slots))
            return ServedBatch(
                np.full((r, batch.slots), -1, np.int64),
                z.astype(bool),
                np.full((r, batch.slots), -1, np.int64),
                z.astype(np.int64),
                z,
                z,
            ), []
        timer = self.retrieval.timer
        if timer:
            timer.start()
        cand, sim, pctr, pcvr = self.retrieval.candidates(batch)  # concurrent requests run this side by side
        if timer:
            timer.lap("cache")  # the lookup (and the rest of a hit); a miss's stages are timed inside
        with self.state_lock:  # pacing, budgets, experiments and accounting: one request at a time
            return self._auction(batch, cand, pctr, pcvr, timer)

    def price(self, batch: RequestBatch, rows: Rows, *, ads_only: bool) -> tuple[ServedBatch, list[str]]:
        """The auction-only path (:mod:`.auctions`): candidate ``rows`` the caller chose, priced as
        :meth:`serve_batch` prices retrieval's. ``ads_only``: every slot is an ad slot and organic candidates
        score zero, so that the candidates compete on their ad score alone (same bids, pacing and pricing)."""
        cand, _, pctr, pcvr = rows
        with self.state_lock:
            return self._auction(batch, cand, pctr, pcvr, None, ads_only=ads_only)

    def _auction(
        self,
        batch: RequestBatch,
        cand: IntArray,
        pctr: FloatArray,
        pcvr: FloatArray,
        timer: StageTimer | None,
        ads_only: bool = False,
    ) -> tuple[ServedBatch, list[str]]:
        """Values → bids → one auction → accounting → creatives, for candidate rows already scored."""
        cat, book, values = self.catalogue, self.campaigns, self.values
        book.advance(batch.ts_ms)
        self.traffic.note(batch)
        pacer = book.pacer
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
        waiting = pacer.waiting.any()  # shared serving: kept out for the lease, not the budget (LEASE_PENDING)
        pending = np.append(pacer.waiting, False)[cs] if waiting else None
        if xr:  # an experiment arm enters only while its spend cap has room for this request
            bid_cpc = bid / np.maximum(pctr, 1e-9)
            capped = xr.capped(cand, camp, batch.user_ids, bid_cpc, batch.slots, batch.ts_ms)
            budget_ok &= capped
            if pending is not None:
                pending &= capped
        pacer.offered(camp[has], value[has])
        # Shop experience: scaling pCTR, bid and relevance by the same multiplier m scales both scores by m
        # while the bid per click (bid / pCTR) and so every per-click price stay in the merchant's terms.
        m = np.where(cand >= 0, cat.delivery[safe], 1.0)
        # Organic value: expected conversions at a damped order value sqrt(price × catalogue median), so
        # that organic ranking follows relevance and conversion more than price (ads pay for price).
        organic = pctr * pcvr * np.sqrt(cat.price[safe] * cat.median_price)
        ab = AuctionBatch(
            product=cand,
            relevance=np.zeros_like(organic) if ads_only else self.config.gmv_weight * organic * m,
            pctr=np.clip(np.where(cand >= 0, pctr * m, 1e-9), 1e-9, 1.0),
            bid=bid * m,
            campaign=camp,
            eligible=np.where(cand >= 0, cat.eligible[safe], False),
            budget_ok=budget_ok,
        )
        if timer:
            timer.lap("bid")  # value, pacing multipliers, budget and experiment gates
        auction = self.config.auction
        if ads_only:
            auction = replace(auction, max_ad_share=1.0, min_ad_spacing=0)
        res = self.holdout.auction(ab, batch, camp_ids, auction)  # run_auction + ghost holdouts
        if pending is not None:
            relabel = pending & (res.reason == Reason.BUDGET_EXHAUSTED)
            res = replace(res, reason=np.where(relabel, np.int8(Reason.LEASE_PENDING), res.reason))
        if timer:
            timer.lap("auction")
        shown = res.slot >= 0
        col = np.maximum(res.slot, 0)
        at = (np.arange(len(col))[:, None], col)  # each slot's column (indexing: take_along_axis costs more)
        prod = np.where(shown, cand[at], -1)
        camp_shown = np.where(res.promoted, camp[at], -1)
        won = res.promoted
        if xr:
            xr.served(prod, camp_shown, batch.user_ids, res.price_cpc_micros, batch.ts_ms)
        values.noted_served(camp_ids, won, prod, camp_shown, res.slot, raw, value_cat, value)
        pacer.served(
            camp_shown[won],
            res.price_cpc_micros[won],
            pctr[at][won],
            value[at][won],
        )
        variant = xr.variants(prod, batch.user_ids) if xr else None
        creative = self._choose_creatives(batch, prod, res.promoted, variant)
        if xr:  # an arm naming one of the product's approved creatives shows it there
            forced, pinned = xr.arm_creatives(prod, res.promoted, batch.user_ids)
            creative = np.where(pinned, forced, creative)
        if timer:
            timer.lap("log")  # pacing and value accounting, experiments, creatives
        served = ServedBatch(
            product_idx=prod,
            promoted=res.promoted,
            campaign_idx=camp_shown,
            price_cpc_micros=np.where(res.promoted, res.price_cpc_micros, 0).astype(np.int64),
            pctr=np.where(shown, pctr[at], 0.0),
            pcvr=np.where(shown, pcvr[at], 0.0),
            candidates=cand,
            candidate_campaign=camp,
            reason=res.reason,
            shortfall=res.shortfall,
            bid=ab.bid,
            bid_pctr=ab.pctr,
            variant=variant,
            creative=creative,
        )
        return served, camp_ids

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
            rows, ids = ri.tolist(), self.catalogue.ids
            kinds = np.asarray(batch.kinds, dtype=np.int64)[ri].tolist()
            out[ri, si] = self.creatives.choose(
                [batch.request_ids[i] for i in rows],
                [ids[p] for p in prod[ri, si].tolist()],
                [_KIND_LABEL[k] for k in kinds],
                self._creative_rng,
            )
        return out

    def serve(self, request: ServeRequest, clock: Clock) -> ServeResult:
        """One request (the API's ``POST /serve``; ``ts_ms`` 0 = now); a batch of one under the hood."""
        return self.serve_many([request], clock)[0]

    def serve_many(self, requests: Sequence[ServeRequest], clock: Clock) -> list[ServeResult]:
        """Several requests, each answered as :meth:`serve` answers it, served together: the requests that share
        a time (``ts_ms`` 0 = now) and a slot count go through one batch (one retrieval lookup, one auction
        over their rows), which costs much less CPU per request than one call each (the HTTP hot path batches
        the requests that arrive together). Within a batch every request sees the pacing state as it was
        before the batch, as ``serve_batch``'s requests do."""
        now = clock.now_ms()
        groups: dict[tuple[int, int], list[int]] = {}
        for i, r in enumerate(requests):
            groups.setdefault((r.ts_ms or now, r.slots), []).append(i)
        out: list[ServeResult | None] = [None] * len(requests)
        for (ts, slots), rows in groups.items():
            batch = RequestBatch(
                request_ids=[requests[i].request_id for i in rows],
                user_ids=[requests[i].user_id for i in rows],
                kinds=np.array([int(requests[i].kind) for i in rows], dtype=np.int64),
                queries=[requests[i].query for i in rows],
                ts_ms=ts,
                slots=slots,
            )
            sb, camp_ids = self._serve(batch)
            for j, i in enumerate(rows):
                out[i] = self._result(sb, camp_ids, j, requests[i].request_id, slots)
        if self.retrieval.timer:
            self.retrieval.timer.lap("respond")
        return [r for r in out if r is not None]

    def _result(self, sb: ServedBatch, camp_ids: list[str], j: int, request_id: str, n_slots: int) -> ServeResult:
        """Row ``j`` of a served batch as one request's result: its slots and the live candidates that lost."""
        ids = self.catalogue.ids
        slots: list[SlotResult] = []
        chosen = sb.creative[j].tolist() if sb.creative is not None else [None] * n_slots
        prod, camp = sb.product_idx[j].tolist(), sb.campaign_idx[j].tolist()
        promoted, price = sb.promoted[j].tolist(), sb.price_cpc_micros[j].tolist()
        pctr, pcvr = sb.pctr[j].tolist(), sb.pcvr[j].tolist()
        for s in range(n_slots):
            pi = prod[s]
            if pi < 0:
                continue
            ci = camp[s]
            slots.append(
                SlotResult(
                    position=len(slots) + 1,
                    product_id=ids[pi],
                    promoted=promoted[s],
                    campaign_id=camp_ids[ci] if ci >= 0 else None,
                    price_micros=Micros(price[s]),
                    pctr=pctr[s],
                    pcvr=pcvr[s],
                    score=0.0,
                    variant=sb.variant[j][s] if sb.variant is not None else None,
                    creative_id=chosen[s],
                )
            )
        losers: tuple[tuple[str, str], ...] = ()
        cand, reason = sb.candidates, sb.reason
        if cand is not None and reason is not None:
            c, r = cand[j], reason[j]
            lost = (c >= 0) & (r != Reason.SHOWN) & (r != Reason.PADDING)
            losers = tuple(
                (ids[p], _REASON_NAME[code])
                for p, code in zip(c[lost].tolist(), r[lost].tolist(), strict=True)
            )
        return ServeResult(request_id, tuple(slots), losers)
