"""The serving side of merchant experiments: which arm a request sees, and the per-arm spend cap.

The engine calls an :class:`ExperimentRouter` at three points of ``serve_batch`` and once per new click:

1. :meth:`route` — for campaign-level experiments with the budget split, a candidate whose campaign is one of
   the experiment's arm campaigns is re-labelled with the campaign of *the user's* arm, so each user's auction
   holds at most one arm of the merchant (arms never bid against each other). A stopped experiment routes
   everyone to the winner.
2. :meth:`capped` — the spend cap: an arm enters a request's auction only while its spend so far, plus the
   prices of its ads served in the last ``reserve_ms`` (clicks that may still come), plus the most this request
   can cost it (its best bid per click × the slots it could take) fit under the cap. Requests of a batch are
   admitted in order until the cap is used up, so a batch cannot overshoot it either. With every click arriving
   within ``reserve_ms`` of its impression an arm's clicks never cost more than its cap.
3. :meth:`served` — reserve the prices of the arms' ads just served; :meth:`clicked` — a click's price becomes
   spend.

Creative experiments also get :meth:`variants`: the label (creative id, title or image) each shown slot must
display for its user. The router keeps only serving state; the experiments themselves live in the Store.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import numpy as np

from sitewide.domain.experiments import (
    Experiment,
    ExperimentKind,
    ExperimentStatus,
    arm_campaign_id,
    assign_many,
)
from sitewide.domain.types import Event, EventKind
from sitewide.ports import Store

RESERVE_MS = 30 * 60_000  # as the pacer's in-flight window: the simulator's clicks come within the tick


class ExperimentRouter:
    def __init__(
        self,
        experiments: Sequence[Experiment],
        campaign_ids: Sequence[str],
        product_ids: Sequence[str],
        spent: dict[tuple[str, int], int] | None = None,
        reserve_ms: int = RESERVE_MS,
    ) -> None:
        # an applied campaign-level test is over (the parent carries the winner's terms); an applied creative
        # test keeps showing its winner
        self.experiments = [e for e in experiments if not (e.applied and e.kind is ExperimentKind.CAMPAIGN)]
        self.reserve_ms = reserve_ms
        camp_row = {c: i for i, c in enumerate(campaign_ids)}
        prod_row = {p: i for i, p in enumerate(product_ids)}
        self._arm_camp: list[np.ndarray] = []  # per experiment: campaign index of each arm (-1 absent)
        self._camp_exp = np.full(len(campaign_ids) + 1, -1, dtype=np.int64)  # campaign → experiment slot
        self._camp_arm = np.full(len(campaign_ids) + 1, -1, dtype=np.int64)  # campaign → its arm index
        self._prod_exp = np.full(len(product_ids) + 1, -1, dtype=np.int64)  # product → creative experiment
        for x, e in enumerate(self.experiments):
            arms = np.array([camp_row.get(arm_campaign_id(e.id, a.name), -1) for a in e.arms], dtype=np.int64)
            self._arm_camp.append(arms)
            if e.kind is ExperimentKind.CAMPAIGN:
                self._camp_exp[arms[arms >= 0]] = x
                self._camp_arm[arms[arms >= 0]] = np.nonzero(arms >= 0)[0]
            else:
                for p in e.product_ids:
                    if p in prod_row:
                        self._prod_exp[prod_row[p]] = x
        self.spent: dict[tuple[str, int], int] = dict(spent or {})
        self._reserved: deque[tuple[int, tuple[str, int], int]] = deque()  # (expires, arm key, micros)
        self._held: dict[tuple[str, int], int] = {}

    @classmethod
    def load(
        cls,
        store: Store,
        campaign_ids: Sequence[str],
        product_ids: Sequence[str],
        now_ms: int,
        previous: ExperimentRouter | None = None,
        experiments: Sequence[Experiment] | None = None,
    ) -> ExperimentRouter:
        """The router for the store's experiments (``experiments``: as already read from it). Each capped arm's
        spend is carried over from ``previous`` (a campaign change must not rescan clicks under the engine
        lock), or re-read from the stored clicks when the engine starts."""
        read = store.list_experiments() if experiments is None else list(experiments)
        router = cls(read, campaign_ids, product_ids)
        if previous is not None:
            router.spent, router._reserved, router._held = previous.spent, previous._reserved, previous._held
            return router
        capped = [e for e in router.experiments if any(a.spend_cap_micros for a in e.arms)]
        if capped:
            start = min(e.created_ms for e in capped)
            for ev in store.events_between(start, max(now_ms, start) + 1, [EventKind.CLICK.value]):
                router.clicked(ev)
        return router

    def __bool__(self) -> bool:
        return bool(self.experiments)

    def _arms(self, x: int, user_ids: Sequence[str]) -> np.ndarray:
        """``[R]`` the arm each request's user is served in experiment slot ``x``."""
        e = self.experiments[x]
        if e.status is ExperimentStatus.STOPPED:
            return np.full(len(user_ids), e.arm_index(e.winner) if e.winner else 0, dtype=np.int64)
        return assign_many(e.salt, [a.weight for a in e.arms], user_ids)

    def _exp_of(self, cand: np.ndarray, camp: np.ndarray) -> np.ndarray:
        """``[R, K]`` experiment slot of each candidate (-1 none): its campaign's or its product's."""
        by_camp = self._camp_exp[np.where(camp >= 0, camp, -1)]
        by_prod = self._prod_exp[np.where(cand >= 0, cand, -1)]
        return np.where(by_camp >= 0, by_camp, np.where(camp >= 0, by_prod, -1))

    # 1. routing --------------------------------------------------------------------------------------
    def route(self, cand: np.ndarray, camp: np.ndarray, user_ids: Sequence[str]) -> np.ndarray:
        """``camp`` with every arm campaign replaced by the user's arm's campaign (budget split)."""
        out = camp.copy()
        for x, e in enumerate(self.experiments):
            if e.kind is not ExperimentKind.CAMPAIGN:
                continue
            if not e.budget_split and e.status is ExperimentStatus.RUNNING:
                continue  # the biased design: every arm bids on every user
            mine = (self._camp_exp[np.where(camp >= 0, camp, -1)] == x) & (camp >= 0)
            if mine.any():
                target = self._arm_camp[x][self._arms(x, user_ids)]  # [R]
                out = np.where(mine, target[:, None], out)
        return out

    def arm_of(
        self, cand: np.ndarray, camp: np.ndarray, user_ids: Sequence[str]
    ) -> tuple[np.ndarray, np.ndarray]:
        """``([R, K] experiment slot, [R, K] arm index)`` of each candidate (-1 where none)."""
        xs = self._exp_of(cand, camp)
        arm = np.full(cand.shape, -1, dtype=np.int64)
        for x in np.unique(xs[xs >= 0]).tolist():
            sel = xs == x
            e = self.experiments[x]
            if e.kind is ExperimentKind.CAMPAIGN:
                arm = np.where(sel, self._camp_arm[np.where(camp >= 0, camp, -1)], arm)
            else:
                arm = np.where(sel, self._arms(x, user_ids)[:, None], arm)
        return xs, arm

    # 2. the spend cap ----------------------------------------------------------------------------------
    def _expire(self, now_ms: int) -> None:
        while self._reserved and self._reserved[0][0] <= now_ms:
            _, key, amount = self._reserved.popleft()
            self._held[key] -= amount

    def capped(
        self,
        cand: np.ndarray,
        camp: np.ndarray,
        user_ids: Sequence[str],
        bid_cpc: np.ndarray,
        slots: int,
        now_ms: int,
    ) -> np.ndarray:
        """``[R, K]`` False for candidates whose arm has no room for this request under its cap."""
        ok = np.ones(cand.shape, dtype=bool)
        self._expire(now_ms)
        xs, arm = self.arm_of(cand, camp, user_ids)
        for x, e in enumerate(self.experiments):
            if e.status is not ExperimentStatus.RUNNING:
                continue
            for k, a in enumerate(e.arms):
                if a.spend_cap_micros is None:
                    continue
                sel = (xs == x) & (arm == k)
                if not sel.any():
                    continue
                key = (e.id, k)
                room = int(a.spend_cap_micros) - self.spent.get(key, 0) - self._held.get(key, 0)
                n = np.minimum(sel.sum(axis=1), slots)
                worst = np.ceil(np.where(sel, bid_cpc, 0.0).max(axis=1)) * n  # [R] the most it can cost
                fits = np.cumsum(worst) <= room
                ok &= ~(sel & ~fits[:, None])
        return ok

    # 3. what was served and clicked --------------------------------------------------------------------
    def served(
        self,
        cand_shown: np.ndarray,
        camp_shown: np.ndarray,
        user_ids: Sequence[str],
        price_cpc: np.ndarray,
        now_ms: int,
    ) -> None:
        """Hold the prices of the capped arms' promoted slots just served (``[R, S]``, camp -1 organic)."""
        xs, arm = self.arm_of(np.where(camp_shown >= 0, cand_shown, -1), camp_shown, user_ids)
        for (x, k), amount in self._sum_by_arm(xs, arm, price_cpc).items():
            e = self.experiments[x]
            if e.arms[k].spend_cap_micros is None:
                continue
            key = (e.id, k)
            self._held[key] = self._held.get(key, 0) + amount
            self._reserved.append((now_ms + self.reserve_ms, key, amount))

    @staticmethod
    def _sum_by_arm(xs: np.ndarray, arm: np.ndarray, price: np.ndarray) -> dict[tuple[int, int], int]:
        out: dict[tuple[int, int], int] = {}
        sel = (xs >= 0) & (arm >= 0)
        for x, k, p in zip(xs[sel].tolist(), arm[sel].tolist(), price[sel].tolist(), strict=True):
            out[(x, k)] = out.get((x, k), 0) + int(p)
        return out

    def clicked(self, e: Event) -> None:
        """A new paid click: its price is spend of the arm that served it."""
        if e.kind is not EventKind.CLICK or not e.campaign_id or e.price_micros <= 0:
            return
        for x in self.experiments:
            if e.ts_ms < x.created_ms:
                continue
            if x.kind is ExperimentKind.CAMPAIGN:
                names = [arm_campaign_id(x.id, a.name) for a in x.arms]
                k = names.index(e.campaign_id) if e.campaign_id in names else -1
            elif e.product_id in x.product_ids and e.campaign_id == x.campaign_id:
                k = int(assign_many(x.salt, [a.weight for a in x.arms], [e.user_id])[0])
            else:
                continue
            if k >= 0:
                key = (x.id, k)
                self.spent[key] = self.spent.get(key, 0) + int(e.price_micros)

    # creative variants -----------------------------------------------------------------------------------
    def arm_creatives(
        self, prod_shown: np.ndarray, promoted: np.ndarray, user_ids: Sequence[str]
    ) -> tuple[np.ndarray, np.ndarray]:
        """``([R, S] object, [R, S] bool)``: the approved creative a creative-test arm shows on a promoted slot of
        its product, and where one does (elsewhere the creatives rotation chooses)."""
        out = np.full(prod_shown.shape, None, dtype=object)
        xs = np.where(promoted, self._prod_exp[np.where(prod_shown >= 0, prod_shown, -1)], -1)
        for x in np.unique(xs[xs >= 0]).tolist():
            e = self.experiments[x]
            arms = self._arms(x, user_ids)
            for r, s in zip(*np.nonzero(xs == x), strict=True):
                out[r, s] = e.arms[int(arms[r])].creative_id
        return out, np.array([[c is not None for c in row] for row in out], dtype=bool).reshape(out.shape)

    def variants(self, prod_shown: np.ndarray, user_ids: Sequence[str]) -> list[list[str | None]]:
        """``[R][S]``: the label a shown product displays for its user (None: not in a creative experiment)."""
        xs = self._prod_exp[np.where(prod_shown >= 0, prod_shown, -1)]
        out: list[list[str | None]] = [[None] * prod_shown.shape[1] for _ in range(prod_shown.shape[0])]
        for x in np.unique(xs[xs >= 0]).tolist():
            e = self.experiments[x]
            arms = self._arms(x, user_ids)
            for r, s in zip(*np.nonzero(xs == x), strict=True):
                out[int(r)][int(s)] = e.arms[int(arms[r])].label()
        return out


__all__ = ["RESERVE_MS", "ExperimentRouter"]
