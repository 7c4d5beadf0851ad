"""Serving for the platform: one request or a batch, and the auction losses they leave for the merchants'
transparency report (counts per campaign, product and reason; a sample of requests kept whole)."""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np

from sitewide.domain.accounts import LossSample
from sitewide.domain.auction import Reason
from sitewide.domain.time import day_of
from sitewide.domain.types import ServeRequest, ServeResult
from sitewide.engine import Engine
from sitewide.ports import RequestBatch, ServedBatch, ServiceRecords

SAMPLE_EVERY = 25  # one request in this many keeps its per-candidate loss reasons (auction transparency)


def record_losses(
    engine: Engine, accounts: ServiceRecords, sb: ServedBatch, request_ids: list[str], ts_ms: int, every: int
) -> None:
    """Count, per (campaign, product, reason), the live ads that were not shown; keep every ``every``-th
    request's losses as samples."""
    cand, reason = sb.candidates, sb.reason
    camp = sb.candidate_campaign  # the campaign each candidate bid for, as the engine chose it
    if cand is None or reason is None or camp is None:
        return
    if cand.size == 0:
        return
    lost = (camp >= 0) & (reason != Reason.SHOWN) & (reason != Reason.PADDING)
    if not lost.any():
        return
    ids = list(engine.campaign_ids())
    pids = engine.catalogue_ids()
    rr, cc = np.nonzero(lost)
    # one integer key per (campaign, product, reason), in the same order as the triple: a 1-D unique is many
    # times faster than np.unique(axis=0) over the rows of a triple (which sorts a void view)
    n_prod, n_reason = len(pids) + 1, max(int(r) for r in Reason) + 1
    key = (camp[rr, cc].astype(np.int64) * n_prod + cand[rr, cc]) * n_reason + reason[rr, cc]
    uniq, counts = np.unique(key, return_counts=True)
    totals = {
        (
            ids[int(k) // (n_prod * n_reason)],
            pids[int(k) // n_reason % n_prod],
            Reason(int(k) % n_reason).name.lower(),
        ): int(n)
        for k, n in zip(uniq.tolist(), counts.tolist(), strict=True)
    }
    sampled = rr % every == 0
    samples = [
        LossSample(
            ts_ms=ts_ms,
            request_id=request_ids[r],
            campaign_id=ids[int(camp[r, c])],
            product_id=pids[int(cand[r, c])],
            reason=Reason(int(reason[r, c])).name.lower(),
            rank=c + 1,
        )
        for r, c in zip(rr[sampled].tolist(), cc[sampled].tolist(), strict=True)
    ]
    accounts.add_losses(day_of(ts_ms), totals, samples)


def serve_one(engine: Engine, accounts: ServiceRecords, req: ServeRequest) -> ServeResult:
    """One request → a ranked list; every live ad that lost is counted, and one request in
    :data:`SAMPLE_EVERY` (chosen by its id, so every worker picks the same) keeps its losses as samples, as
    :func:`serve_batch` keeps every ``SAMPLE_EVERY``-th request's."""
    return serve_many(engine, accounts, [req])[0]


def serve_many(engine: Engine, accounts: ServiceRecords, reqs: Sequence[ServeRequest]) -> list[ServeResult]:
    """Several requests, each answered and its losses counted as :func:`serve_one` does, served together
    (``Engine.serve_many``: one batch for those that share a time and a slot count); the batch's losses go to
    ``accounts`` in one call per day (not one per request: each call takes the loss buffer's lock)."""
    now = engine.clock.now_ms()
    reqs = [
        r if r.ts_ms else ServeRequest(r.request_id, r.user_id, r.kind, r.query, r.slots, now) for r in reqs
    ]
    results = engine.serve_many(reqs)
    by_day: dict[str, tuple[dict[tuple[str, str, str], int], list[LossSample]]] = {}
    for req, res in zip(reqs, results, strict=True):
        if res.losers:
            totals, samples = by_day.setdefault(day_of(req.ts_ms), ({}, []))
            _count_losses(engine, req, res, totals, samples)
    for day, (totals, samples) in by_day.items():
        accounts.add_losses(day, totals, samples)
    return results


def _count_losses(
    engine: Engine,
    req: ServeRequest,
    res: ServeResult,
    totals: dict[tuple[str, str, str], int],
    samples: list[LossSample],
) -> None:
    """Add the request's lost ads to ``totals`` per (campaign, product, reason), and to ``samples`` when the
    request is sampled."""
    ts = req.ts_ms
    camps = engine.campaigns_of([pid for pid, _ in res.losers])  # no catalogue-sized work per request
    sampled = zlib.crc32(req.request_id.encode()) % SAMPLE_EVERY == 0
    for (pid, why), cid in zip(res.losers, camps, strict=True):
        if cid is None:
            continue
        k = (cid, pid, why)
        totals[k] = totals.get(k, 0) + 1
        if sampled:
            samples.append(LossSample(ts, req.request_id, cid, pid, why, 0))


def serve_batch(
    engine: Engine,
    accounts: ServiceRecords,
    requests: Sequence[ServeRequest],
    sample_every: int = SAMPLE_EVERY,
) -> ServedBatch:
    """Many requests at once (the simulator's path), at the latest request time (now when none is given)."""
    ts = max(r.ts_ms for r in requests) or engine.clock.now_ms()
    rids = [r.request_id for r in requests]
    sb = engine.serve_batch(
        RequestBatch(
            request_ids=rids,
            user_ids=[r.user_id for r in requests],
            kinds=np.array([int(r.kind) for r in requests], dtype=np.int64),
            queries=[r.query for r in requests],
            ts_ms=ts,
            slots=max(r.slots for r in requests),
        )
    )
    record_losses(engine, accounts, sb, rids, ts, sample_every)
    return sb
