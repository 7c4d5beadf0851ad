"""The story: a day is T ticks; each tick users arrive, ask the engine, look, click and buy; orders and
refunds arrive later; at the end of each day the engine settles. The engine is whatever the runner passes
(in-process :class:`~sitewide.ports.MarketEngine`, or an HTTP client with the same methods).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from sitewide.domain.money import Micros
from sitewide.domain.time import DAY_MS
from sitewide.domain.types import CampaignStatus, Event, EventKind, FloatArray, IntArray, ValidationError
from sitewide.ports import MarketEngine, RequestBatch
from sitewide.simulator.behaviour import ndcg, respond
from sitewide.simulator.metrics import CAMPAIGN_COLUMNS, TICK_COLUMNS, SimResult
from sitewide.simulator.world import SEARCH, STREAM_QUERIES, STREAM_STORY, World, calibration_targets


def daily_curve(ticks: int) -> FloatArray:
    """Share of a day's traffic in each tick, from Open Bandit's real hour-of-day mix (Tokyo time)."""
    hourly = np.asarray(calibration_targets()["open_bandit_hourly_share_jst"], dtype=np.float64)
    edges = np.linspace(0.0, 24.0, ticks + 1)
    cum = np.concatenate([[0.0], np.cumsum(hourly)])
    at = np.interp(edges, np.arange(25.0), cum)
    share = np.diff(at)
    out: FloatArray = share / share.sum()
    return out


class Story:
    """Runs a :class:`World` against an engine, tick by tick, and records the metrics."""

    def __init__(self, world: World, engine: MarketEngine, on_tick: Callable[[], None] | None = None) -> None:
        self.world = world
        self.engine = engine
        self.cfg = world.config
        self.rng = np.random.default_rng([self.cfg.seed, STREAM_STORY])
        # intent queries draw from their own stream: the rest of the story is the same for either query style
        self.query_rng = np.random.default_rng([self.cfg.seed, STREAM_QUERIES])
        self.on_tick = on_tick
        self.tick_ms = DAY_MS // self.cfg.ticks_per_day
        self.curve = daily_curve(self.cfg.ticks_per_day)
        ids = list(engine.catalogue_ids())
        index = {p.id: i for i, p in enumerate(world.product_list)}
        self.pids = [p.id for p in world.product_list]
        self.eng2world = np.asarray([index.get(pid, -1) for pid in ids] + [-1], dtype=np.int64)
        self.pending: list[tuple[int, int, Event]] = []  # heap of (ts_ms, seq, event) not yet due
        self.seq = 0
        self.n_click = self.n_order = self.n_refund = self.n_imp = 0
        self.stock = world.products.stock.copy()
        # per product: the chance that an order is refunded (the world's; a staged event may change it)
        self.refund_prob = world.refund_prob_of_product.copy()
        # per product: the share of the list price a shopper pays, in parts per million (a staged event such as
        # the demo's leaked coupon lowers it for some products)
        self.paid_ppm = np.full(len(world.products), 1_000_000, dtype=np.int64)
        n_c = len(world.campaigns)
        self.true_clicks = np.zeros(n_c, dtype=np.int64)
        self.true_cost = np.zeros(n_c, dtype=np.int64)
        self.true_gmv = np.zeros(n_c, dtype=np.int64)
        self.tick_rows: list[dict[str, Any]] = []
        self.campaign_rows: list[dict[str, Any]] = []
        self.dropped_pending = 0

    # ---- helpers -----------------------------------------------------------------------------------------
    def _campaign_map(self) -> tuple[list[str], IntArray]:
        ids = list(self.engine.campaign_ids())
        m = np.asarray([self.world.campaign_index.get(c, -1) for c in ids] + [-1], dtype=np.int64)
        return ids, m

    def _send(self, events: Sequence[Event]) -> None:
        b = self.cfg.event_batch
        for i in range(0, len(events), b):
            self.engine.record_events(events[i : i + b])

    def _due(self, until_ms: int) -> list[Event]:
        out = []
        while self.pending and self.pending[0][0] < until_ms:
            out.append(heapq.heappop(self.pending)[2])
        return out

    def _push(self, ev: Event) -> None:
        heapq.heappush(self.pending, (ev.ts_ms, self.seq, ev))
        self.seq += 1

    # ---- the day -----------------------------------------------------------------------------------------
    def run(self) -> SimResult:
        for day in range(self.cfg.days):
            self.run_day(day)
        self.dropped_pending = len(self.pending)
        return self.result()

    def _schedule(self, day: int) -> None:
        """Start and stop campaigns on their days, through the engine's own calls where it offers them."""
        add = getattr(self.engine, "add_campaign", None)
        if day > 0 and add is not None:
            for c in self.world.campaigns_starting(day):
                add(c)
        update = getattr(self.engine, "update_campaign", None)
        if update is not None:
            for c in self.world.campaigns_stopping(day):
                update(replace(c, status=CampaignStatus.PAUSED))

    def run_day(self, day: int) -> None:
        self.stock = self.world.products.stock.copy()  # daily restock
        self._schedule(day)
        cids, cmap = self._campaign_map()
        for t in range(self.cfg.ticks_per_day):
            self.tick(day, t, cids, cmap)
            if self.on_tick is not None:
                self.on_tick()
        start = self.world.base_ms + day * DAY_MS
        settle = getattr(self.engine, "settle", None)
        if settle is None:
            return
        report = settle(start, start + DAY_MS)
        budgets = {c.id: c for c in self.world.campaigns}
        for c in report.campaigns:
            camp = budgets.get(c.campaign_id)
            wi = self.world.campaign_index.get(c.campaign_id, -1)
            budget = int(camp.daily_budget_micros) if camp else 0
            spend, gmv = int(c.spend_micros), int(c.gmv_micros)
            self.campaign_rows.append(
                {
                    "day": day,
                    "campaign_id": c.campaign_id,
                    "target_roi": float(camp.target_roi) if camp else float("nan"),
                    "daily_budget_micros": budget,
                    "spend_micros": spend,
                    "gmv_micros": gmv,
                    "compensation_micros": int(c.compensation_micros),
                    "roi": gmv / spend if spend else float("nan"),
                    "budget_use": spend / budget if budget else float("nan"),
                    "true_clicks": int(self.true_clicks[wi]) if wi >= 0 else 0,
                    "true_click_cost_micros": int(self.true_cost[wi]) if wi >= 0 else 0,
                    "true_gmv_micros": int(self.true_gmv[wi]) if wi >= 0 else 0,
                }
            )
        self.true_clicks[:] = 0
        self.true_cost[:] = 0
        self.true_gmv[:] = 0

    def tick(self, day: int, t: int, cids: list[str], cmap: IntArray) -> None:
        w, rng = self.world, self.rng
        start = w.base_ms + day * DAY_MS + t * self.tick_ms
        end = start + self.tick_ms
        row: dict[str, Any] = dict.fromkeys(TICK_COLUMNS, 0)
        row.update(day=day, tick=t, ts_ms=start, ndcg_sum=0.0)
        n = rng.poisson(w.users.activity * self.curve[t])
        users = np.repeat(np.arange(len(w.users), dtype=np.int64), n)
        events: list[Event] = []
        if len(users):
            events = self._serve_and_respond(day, t, start, users, row, cids, cmap)
        events.extend(self._due(end))
        for ev in events:
            if ev.kind == EventKind.ORDER:
                row["orders_sent"] += 1
            elif ev.kind == EventKind.REFUND:
                row["refunds_sent"] += 1
                row["refund_micros"] += int(ev.order_value_micros)
        self._send(events)
        self.tick_rows.append(row)

    def _serve_and_respond(
        self,
        day: int,
        t: int,
        start: int,
        users: IntArray,
        row: dict[str, Any],
        cids: list[str],
        cmap: IntArray,
    ) -> list[Event]:
        w, cfg, rng = self.world, self.cfg, self.rng
        r, s = len(users), cfg.slots
        kind = np.where(rng.random(r) < cfg.search_share, SEARCH, 1).astype(np.int64)
        intent, target = w.sample_intent(users, rng)
        queries = w.search_queries(target, kind, self.query_rng)
        tag = f"{cfg.seed}-{day}-{t}"
        req_ids = [f"r{tag}-{i}" for i in range(r)]
        uid = w.users.ids
        user_ids = [uid[u] for u in users.tolist()]
        served = self.engine.serve_batch(
            RequestBatch(
                request_ids=req_ids, user_ids=user_ids, kinds=kind, queries=queries, ts_ms=start, slots=s
            )
        )
        eidx = np.asarray(served.product_idx, dtype=np.int64)[:, :s]
        if eidx.shape != (r, s):
            pad = np.full((r, s), -1, dtype=np.int64)
            pad[:, : eidx.shape[1]] = eidx
            eidx = pad
        prod = self.eng2world[np.where(eidx >= 0, eidx, -1)]
        promoted = np.asarray(served.promoted, dtype=bool)[:, :s] & (prod >= 0)
        camp_e = np.where(promoted, np.asarray(served.campaign_idx, dtype=np.int64)[:, :s], -1)
        cpc = np.where(promoted, np.asarray(served.price_cpc_micros, dtype=np.int64)[:, :s], 0)
        resp = respond(w, users, kind, intent, prod, rng)
        bot = w.users.is_bot[users]
        shown = resp.shown
        human_shown = shown & ~bot[:, None]
        search_rows = (kind == SEARCH)[:, None]
        row["requests"] = r
        row["bot_requests"] = int(bot.sum())
        row["search_requests"] = int((kind == SEARCH).sum())
        row["impressions"] = int(shown.sum())
        row["human_impressions"] = int(human_shown.sum())
        row["search_impressions"] = int((human_shown & search_rows).sum())
        row["promoted_impressions"] = int(promoted.sum())
        row["clicks"] = int(resp.click.sum())
        row["bot_clicks"] = int((resp.click & bot[:, None]).sum())
        row["search_clicks"] = int((resp.click & ~bot[:, None] & search_rows).sum())
        row["promoted_clicks"] = int((resp.click & promoted).sum())
        row["expected_clicks"] = float((resp.pctr * w.exam[None, :s] * human_shown).sum())
        row["ad_revenue_micros"] = int(cpc[resp.click].sum())
        # NDCG on a seeded sample of human requests
        hum = np.flatnonzero(~bot)
        if len(hum) and cfg.ndcg_sample > 0:
            pick = (
                hum if len(hum) <= cfg.ndcg_sample else rng.choice(hum, size=cfg.ndcg_sample, replace=False)
            )
            nd = ndcg(w, users[pick], kind[pick], intent[pick], prod[pick])
            row["ndcg_sum"] = float(nd.sum())
            row["ndcg_n"] = len(pick)
        # clicks → events; purchases → delayed orders (and some refunds later)
        ri, si = np.nonzero(resp.click)
        click_ts = start + rng.integers(0, self.tick_ms, size=r)[ri] + si * 4_000
        click_ts = np.minimum(click_ts, start + self.tick_ms - 1)
        pids = self.pids

        def slot_event(kind: EventKind, event_id: str, ts_ms: int, a: int, b: int) -> Event:
            """The impression or click of request ``a``'s slot ``b``, with its campaign and price."""
            ce = int(camp_e[a, b])
            return Event(
                id=event_id,
                kind=kind,
                ts_ms=ts_ms,
                user_id=user_ids[a],
                product_id=pids[int(prod[a, b])],
                request_id=req_ids[a],
                campaign_id=cids[ce] if ce >= 0 else None,
                position=b + 1,
                price_micros=Micros(int(cpc[a, b])),
            )

        events: list[Event] = []
        if cfg.report_impressions:
            ii, ss = np.nonzero(shown & promoted if cfg.promoted_impressions_only else shown)
            for a, b in zip(ii.tolist(), ss.tolist(), strict=True):
                events.append(slot_event(EventKind.IMPRESSION, f"i{tag}-{self.n_imp}", start, a, b))
                self.n_imp += 1
        buy_here = resp.buy[ri, si]
        # stock: within a tick, earlier clicks get the units first
        bp = prod[ri, si]
        ok = np.ones(len(ri), dtype=bool)
        if buy_here.any():
            bidx = np.flatnonzero(buy_here)
            order = bidx[np.argsort(bp[bidx], kind="stable")]
            prods = bp[order]
            first = np.searchsorted(prods, prods, side="left")
            rank = np.arange(len(order)) - first
            fail = rank >= self.stock[prods]
            ok[order[fail]] = False
            np.subtract.at(self.stock, prods[~fail], 1)
            row["stockouts"] = int(fail.sum())
        buy_ok = buy_here & ok
        qty = 1 + rng.poisson(cfg.extra_quantity_mean, size=len(ri))
        delay = rng.lognormal(
            np.log(cfg.order_delay_median_min * 60_000.0), cfg.order_delay_sigma, size=len(ri)
        )
        refund = rng.random(len(ri)) < self.refund_prob[np.maximum(bp, 0)]
        rdelay = rng.lognormal(np.log(cfg.refund_delay_median_days * DAY_MS), 0.5, size=len(ri))
        price = w.products.price_micros
        wc_all = cmap[np.where(camp_e[ri, si] >= 0, camp_e[ri, si], -1)]
        for k, (a, b) in enumerate(zip(ri.tolist(), si.tolist(), strict=True)):
            j = int(prod[a, b])
            ce = int(camp_e[a, b])
            cid = f"c{tag}-{self.n_click}"
            self.n_click += 1
            ts = int(click_ts[k])
            events.append(slot_event(EventKind.CLICK, cid, ts, a, b))
            wc = int(wc_all[k])
            if wc >= 0:
                self.true_clicks[wc] += 1
                self.true_cost[wc] += int(cpc[a, b])
            if not buy_ok[k]:
                continue
            value = int(price[j]) * int(qty[k]) * int(self.paid_ppm[j]) // 1_000_000
            row["purchases"] += 1
            if ce >= 0:
                row["gmv_promoted_micros"] += value
                if wc >= 0:
                    self.true_gmv[wc] += value
            else:
                row["gmv_organic_micros"] += value
            oid = f"o{tag}-{self.n_order}"
            self.n_order += 1
            ots = ts + max(1, int(delay[k]))
            self._push(
                Event(
                    id=oid,
                    kind=EventKind.ORDER,
                    ts_ms=ots,
                    user_id=user_ids[a],
                    product_id=pids[j],
                    order_value_micros=Micros(value),
                    click_id=cid,
                )
            )
            if refund[k]:
                self._push(
                    Event(
                        id=f"f{tag}-{self.n_refund}",
                        kind=EventKind.REFUND,
                        ts_ms=ots + max(1, int(rdelay[k])),
                        user_id=user_ids[a],
                        product_id=pids[j],
                        order_value_micros=Micros(value),
                        order_id=oid,
                    )
                )
                self.n_refund += 1
        return events

    def result(self) -> SimResult:
        ticks = pd.DataFrame(self.tick_rows, columns=list(TICK_COLUMNS))
        camps = pd.DataFrame(self.campaign_rows, columns=list(CAMPAIGN_COLUMNS))
        info = {
            "pending_events_after_run": self.dropped_pending,
            "a_search": self.world.a_search,
            "a_feed": self.world.a_feed,
            "b_cvr": self.world.b_cvr,
            "products": len(self.world.products),
            "campaigns": len(self.world.campaigns),
        }
        return SimResult(config=self.cfg.to_dict(), ticks=ticks, campaigns=camps, info=info)


def check_engine(engine: object) -> None:
    for name in ("catalogue_ids", "campaign_ids", "serve_batch", "record_events"):
        if not callable(getattr(engine, name, None)):
            raise ValidationError(f"engine lacks {name}(); it must satisfy sitewide.ports.MarketEngine")
