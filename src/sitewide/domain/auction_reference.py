"""The sitewide auction one request at a time, in plain loops: the test oracle and benchmark baseline of the
vectorised :func:`sitewide.domain.auction.run_auction` (same mechanism, same results; see that module)."""

from __future__ import annotations

import numpy as np

from sitewide.domain.auction import AuctionBatch, AuctionConfig, AuctionResult, Reason, run_limits
from sitewide.domain.auction_input import NEG, prepare, price_cpc
from sitewide.domain.types import BoolArray, FloatArray

__all__ = ["run_auction_reference"]

def _greedy_one(
    score: FloatArray, rel: FloatArray, live: BoolArray, avail: BoolArray, S: int, cap: int, spacing: int
) -> tuple[list[int], list[bool], list[float], list[float], list[bool]]:
    """One request, plainly: at each slot, the best effective score among the remaining candidates."""
    remaining = avail.copy()
    slots: list[int] = []
    promo: list[bool] = []
    win: list[float] = []
    runner: list[float] = []
    allowed_at: list[bool] = []
    used, last = 0, None
    for s in range(S):
        allowed = used < cap and (last is None or s - last > spacing) and bool(live.any())
        eff = np.where(live & allowed, score, rel)
        eff = np.where(remaining, eff, NEG)
        allowed_at.append(allowed)
        if not remaining.any():
            slots.append(-1)
            promo.append(False)
            win.append(NEG)
            runner.append(NEG)
            continue
        w = int(np.argmax(eff))  # first maximum = lowest column on ties
        remaining[w] = False
        is_promo = bool(allowed and live[w])
        slots.append(w)
        promo.append(is_promo)
        win.append(float(eff[w]))
        others = np.where(remaining, np.where(live & allowed, score, rel), NEG)
        runner.append(float(others.max()) if is_promo else NEG)
        if is_promo:
            used += 1
            last = s
    return slots, promo, win, runner, allowed_at


def run_auction_reference(batch: AuctionBatch, slots: int, config: AuctionConfig) -> AuctionResult:
    """The same auction as :func:`run_auction`, one request at a time (test oracle and baseline)."""
    prep = prepare(batch, slots, config)
    R, N = prep.score.shape
    S, cap, spacing, alpha, reserve = run_limits(slots, config)
    e = None if batch.examination is None else np.asarray(batch.examination, dtype=np.float64)

    slot_out = np.full((R, S), -1, dtype=np.int64)
    promo_out = np.zeros((R, S), dtype=np.bool_)
    price_out = np.zeros((R, S), dtype=np.int64)
    reason_out = np.zeros((R, N), dtype=np.int8)
    short_out = np.zeros((R, N))
    for r in range(R):
        score, rel, live = prep.score[r], prep.rel[r], prep.live[r].copy()
        # de-duplicate: keep the best copy of each product (first column on ties)
        best: dict[int, int] = {}
        for i in range(N):
            p = int(prep.product[r, i])
            if p < 0:
                continue
            j = best.get(p)
            if j is None or score[i] > score[j]:
                best[p] = i
        avail = np.zeros(N, dtype=np.bool_)
        for i in best.values():
            avail[i] = True
        dup = ~avail & ~prep.pad[r]
        live &= avail
        sl, pm, win, runner, allowed = _greedy_one(score, rel, live, avail, S, cap, spacing)
        slot_out[r] = sl
        promo_out[r] = pm
        for s in range(S):
            if not pm[s]:
                continue
            i = sl[s]
            if config.mechanism == "gsp":
                b_min = (runner[s] - rel[i]) / alpha
            else:
                assert e is not None
                cf_live = live.copy()
                cf_live[i] = False
                cf_score = np.where(cf_live | ~avail, score, rel)
                cs, _, cw, _, _ = _greedy_one(cf_score, rel, cf_live, avail, S, cap, spacing)
                total = 0.0
                for k in range(S):
                    cf_term = cw[k] if cs[k] >= 0 else 0.0
                    base = rel[i] if k == s else (win[k] if sl[k] >= 0 else 0.0)
                    total = total + (e[k] / e[s]) * (cf_term - base)
                b_min = total / alpha
            price_out[r, s] = price_cpc(
                np.array([b_min]), np.array([prep.bid[r, i]]), np.array([prep.pctr[r, i]]), reserve
            )[0]
        shown = {i for i in sl if i >= 0}
        for i in range(N):
            if prep.pad[r, i]:
                reason_out[r, i] = Reason.PADDING
            elif dup[i]:
                reason_out[r, i] = Reason.DUPLICATE
            elif i in shown:
                reason_out[r, i] = Reason.SHOWN
            elif prep.has_campaign[r, i] and not prep.eligible[r, i]:
                reason_out[r, i] = Reason.INELIGIBLE
            elif prep.has_campaign[r, i] and not prep.budget_ok[r, i]:
                reason_out[r, i] = Reason.BUDGET_EXHAUSTED
            elif prep.below_reserve[r, i]:
                reason_out[r, i] = Reason.BELOW_RESERVE
            elif live[i]:
                capped = any(
                    not allowed[s] and (score[i] > win[s] or (score[i] == win[s] and i < sl[s]))
                    for s in range(S)
                )
                if capped:
                    reason_out[r, i] = Reason.AD_LOAD_CAP
                else:
                    reason_out[r, i] = Reason.OUTBID
                    targets = [win[s] for s in range(S) if allowed[s]]
                    short_out[r, i] = (min(targets) - score[i]) / alpha if targets else np.inf
            else:
                reason_out[r, i] = Reason.OUTBID
                short_out[r, i] = min(win) - rel[i]
    return AuctionResult(
        slot=slot_out, promoted=promo_out, price_cpc_micros=price_out, reason=reason_out, shortfall=short_out
    )
