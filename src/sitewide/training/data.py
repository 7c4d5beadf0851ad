"""Training sources: logged exposures as a :class:`RankingLog` (a ``ScoreInput`` plus outcomes).

- :func:`load_obd` — the Open Bandit Dataset (ZOZOTOWN, real logged impressions with positions and
  propensities; clicks only). One row per impression (``N = 1``), all feed requests.
- :func:`simulate_exposures` — logs from the calibrated simulator (``sitewide.simulator``): a logging policy
  shows slates, the simulator's users click and buy, and the true probabilities are kept beside the outcomes so
  models can be compared with the truth. Positions inside each slate are shuffled by the logging policy, so
  the position effect is identifiable.
- :func:`simulate_engine_exposures` — the same simulator, but each request's candidates are the ones the real
  engine retrieves (its encoder, index and users' click-history vectors) and the whole candidate row is logged
  with the shown slate marked by position: the training rows are exactly what the scorer sees when serving.
- :func:`log_from_events` — the engine's own event stream (impressions with positions, clicks, orders) as a
  log: the simulator's runs through the real engine are a training source too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sitewide.domain.types import BoolArray, Event, EventKind, FloatArray, ValidationError
from sitewide.models.features import DEFAULT_BUCKETS, ProductTable, UserTable, logged_mask
from sitewide.ports import ScoreInput, TextEncoder

OBD_USER_FIELDS = ("user_feature_0", "user_feature_1", "user_feature_2", "user_feature_3")


@dataclass(frozen=True)
class RankingLog:
    """R logged requests × N slots. ``inputs.position`` is the slot each product was shown at (0-based)."""

    inputs: ScoreInput
    click: BoolArray  # [R, N]
    order: BoolArray | None = None  # [R, N] order after a click
    weight: FloatArray | None = None  # [R, N] optional per-impression weights (inverse propensity)

    @property
    def n_requests(self) -> int:
        return int(self.inputs.product.shape[0])

    def subset(self, rows: np.ndarray) -> RankingLog:
        x = self.inputs
        return RankingLog(
            ScoreInput(
                product=x.product[rows],
                request_kind=x.request_kind[rows],
                user=x.user[rows],
                similarity=x.similarity[rows],
                position=None if x.position is None else x.position[rows],
            ),
            self.click[rows],
            None if self.order is None else self.order[rows],
            None if self.weight is None else self.weight[rows],
        )


def split_rows(n: int, fractions: Sequence[float], rng: np.random.Generator) -> list[np.ndarray]:
    """A seeded random partition of ``range(n)`` by ``fractions`` (the last part takes the remainder)."""
    perm = rng.permutation(n)
    cuts = np.cumsum([int(round(f * n)) for f in fractions[:-1]])
    return [np.sort(p) for p in np.split(perm, cuts)]


# ---- Open Bandit Dataset ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ObdData:
    log: RankingLog
    products: ProductTable
    users: UserTable
    policy: np.ndarray  # [R] "random" / "bts"
    propensity: FloatArray  # [R]


def load_obd(
    root: str | Path, policies: Sequence[str] = ("random", "bts"), n_buckets: int = DEFAULT_BUCKETS
) -> ObdData:
    """Read ``{root}/{policy}/all.csv`` and ``item_context.csv`` (``pd.read_csv(p, index_col=0)``).

    Products: the 80 items, fields ``item_id`` and ``item_feature_1..3``, dense ``item_feature_0``. Users: the
    distinct combinations of ``user_feature_0..3``. Similarity: the user–item affinity of the shown item.
    Positions 1..3 become 0..2. Weights: 1 / propensity, normalised to mean 1.
    """
    root = Path(root)
    frames = []
    for pol in policies:
        path = root / pol / "all.csv"
        if not path.exists():
            raise ValidationError(f"OBD file not found: {path}")
        df = pd.read_csv(path, index_col=0)
        df["policy"] = pol
        frames.append(df)
    df = pd.concat(frames, ignore_index=True)
    need = {"item_id", "position", "click", "propensity_score", *OBD_USER_FIELDS}
    if missing := need - set(df.columns):
        raise ValidationError(f"OBD log lacks columns {sorted(missing)}")
    items = pd.read_csv(root / policies[0] / "item_context.csv", index_col=0).sort_values("item_id")
    if not np.array_equal(items["item_id"].to_numpy(), np.arange(len(items))):
        raise ValidationError("item_context item_id must be 0..n-1")
    products = ProductTable.from_columns(
        {
            "item_id": items["item_id"].tolist(),
            **{
                f: items[f].astype(str).tolist()
                for f in ("item_feature_1", "item_feature_2", "item_feature_3")
            },
        },
        {"item_feature_0": items["item_feature_0"].astype(float).tolist()},
        n_buckets,
    )
    ukey = df[list(OBD_USER_FIELDS)].astype(str).agg("|".join, axis=1)
    codes, uniq = pd.factorize(ukey)
    first = pd.Series(np.arange(len(df))).groupby(codes).first().to_numpy()
    users = UserTable.from_columns(
        {f: df[f].astype(str).to_numpy()[first].tolist() for f in OBD_USER_FIELDS}, n_buckets
    )
    item = df["item_id"].to_numpy(dtype=np.int64)
    if "affinity" in df.columns:  # the in-repo fixture stores only the shown item's affinity
        aff = df["affinity"].to_numpy(dtype=np.float64)
    else:
        aff_cols = [f"user-item_affinity_{i}" for i in range(len(items))]
        aff = df[aff_cols].to_numpy(dtype=np.float64)[np.arange(len(df)), item]
    prop = df["propensity_score"].to_numpy(dtype=np.float64)
    w = 1.0 / np.maximum(prop, 1e-6)
    r = len(df)
    log = RankingLog(
        ScoreInput(
            product=item[:, None],
            request_kind=np.ones(r, dtype=np.int64),
            user=codes.astype(np.int64),
            similarity=aff[:, None],
            position=(df["position"].to_numpy(dtype=np.int64) - 1)[:, None],
        ),
        click=df["click"].to_numpy(dtype=bool)[:, None],
        weight=(w / w.mean())[:, None],
    )
    return ObdData(log, products, users, df["policy"].to_numpy(), prop)


# ---- simulator logs --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SimLog:
    """A simulator log with its ground truth. All ``[R, S]`` except the per-request fields."""

    log: RankingLog
    true_click: FloatArray  # P(click) at the shown position (examination × pCTR; bots: their click rate)
    true_pctr: FloatArray  # P(click | examined) for humans (what the ranker's serving pCTR estimates)
    true_pcvr: FloatArray  # P(order | click) (0 for bots)
    users: np.ndarray  # [R] world user rows
    kind: np.ndarray  # [R]
    intent: np.ndarray  # [R] intent category (search), -1 for feed
    queries: list[str]  # [R] "" for feed

    @property
    def shown(self) -> BoolArray:
        """``[R, N]`` the logged pairs that were shown (rows may hold unshown candidates with position -1)."""
        return logged_mask(self.log.inputs)

    def subset(self, rows: np.ndarray) -> SimLog:
        return replace(
            self,
            log=self.log.subset(rows),
            true_click=self.true_click[rows],
            true_pctr=self.true_pctr[rows],
            true_pcvr=self.true_pcvr[rows],
            users=self.users[rows],
            kind=self.kind[rows],
            intent=self.intent[rows],
            queries=[self.queries[i] for i in rows.tolist()],
        )


def product_texts(world: Any) -> list[str]:
    return [f"{p.title} {p.brand} {p.category}" for p in world.product_list]


def _sample_requests(
    world: Any, n: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """``n`` requests: users drawn by activity, search or feed by the world's search share, an intent category
    from the user's interests and, for search, a query for a product of it (``world.search_queries``; feed: "")."""
    act = world.users.activity / world.users.activity.sum()
    users = rng.choice(len(world.users), size=n, p=act).astype(np.int64)
    kind = np.where(rng.random(n) < world.config.search_share, 0, 1).astype(np.int64)
    intent, target = world.sample_intent(users, rng)
    return users, kind, intent, world.search_queries(target, kind, rng)


def simulate_exposures(
    world: Any,
    n_requests: int,
    rng: np.random.Generator,
    encoder: TextEncoder,
    product_vectors: FloatArray | None = None,
    candidates: int = 50,
    explore: float = 0.3,
) -> SimLog:
    """Log ``n_requests`` requests from the simulator ``world`` under an exploring logging policy.

    Policy, per slot: with probability ``explore`` a uniformly random product; otherwise a random product of the
    request's intent category (the simulator's calibration policy), or for search requests half of the time one
    of the top-``candidates`` products by text similarity of the query (``encoder``). Slots are then shuffled,
    so positions are random.
    Users: drawn by activity; queries: ``world.search_queries`` for a product of the user's intent category.
    Outcomes come from :func:`sitewide.simulator.behaviour.respond` (examination, clicks, purchases).
    """
    from sitewide.simulator.behaviour import respond

    p_n = len(world.products)
    s = int(world.config.slots)
    vecs = product_vectors if product_vectors is not None else encoder.encode(product_texts(world))
    users, kind, intent, queries = _sample_requests(world, n_requests, rng)
    # every slot: uniform random (``explore``), else a random product of the request's intent category (the
    # simulator's reference policy; for feed the user's sampled interest) or, for search, one of the
    # top-``candidates`` products by text similarity to the query — half and half
    prods = rng.integers(0, p_n, size=(n_requests, s))
    in_cat = world.reference_lists(users, np.zeros(n_requests, dtype=np.int64), intent, rng)
    u = rng.random((n_requests, s))
    prods = np.where(u >= explore, in_cat, prods)
    sim = np.zeros((n_requests, s))
    search = np.flatnonzero(kind == 0)
    kk = min(candidates, p_n)
    if len(search):
        qv = encoder.encode([queries[i] for i in search.tolist()])
        for start in range(0, len(search), 2048):
            blk = search[start : start + 2048]
            sims = qv[start : start + 2048] @ vecs.T  # [b, P]
            top = np.argpartition(-sims, kk - 1, axis=1)[:, :kk]
            pick = np.argsort(rng.random((len(blk), kk)), axis=1)[:, :s]
            chosen = np.take_along_axis(top, pick, axis=1)
            textual = u[blk] >= explore + (1.0 - explore) / 2.0
            prods[blk] = np.where(textual, chosen, prods[blk])
    # positions: a slate's products are shown at random positions
    prods = np.take_along_axis(prods, np.argsort(rng.random((n_requests, s)), axis=1), axis=1)
    if len(search):  # the similarity the engine would see: query · product text vector (feed: 0)
        sim[search] = np.einsum("rd,rsd->rs", qv, vecs[prods[search]])
    resp = respond(world, users, kind, np.where(kind == 0, intent, -1), prods, rng)
    bot = world.users.is_bot[users][:, None]
    exam = world.exam[:s][None, :]
    true_click = np.where(bot, world.config.bot_click_prob, resp.pctr) * exam
    pcvr = np.where(bot, 0.0, resp.pcvr)
    position = np.broadcast_to(np.arange(s), (n_requests, s)).copy()
    log = RankingLog(
        ScoreInput(product=prods, request_kind=kind, user=users, similarity=sim, position=position),
        click=resp.click,
        order=resp.buy,
    )
    return SimLog(
        log,
        true_click,
        np.broadcast_to(resp.pctr, prods.shape).copy(),
        pcvr,
        users,
        kind,
        np.where(kind == 0, intent, -1),
        queries,
    )


def simulate_engine_exposures(
    world: Any,
    engine: Any,
    n_requests: int,
    rng: np.random.Generator,
    chunk: int = 2_000,
) -> SimLog:
    """Log ``n_requests`` simulator requests over the candidates ``engine`` (a :class:`sitewide.engine.Engine`
    over ``world``'s catalogue) retrieves, with a uniformly random slate of its candidates shown in random order
    (an exploration policy: every candidate the scorer will rank has a chance to be shown, at every position).

    Rows are ``[R, K]`` candidate rows as the engine retrieved them (similarity included); ``position`` is the
    slot of the shown ones and ``-1`` for the others. Requests run in chunks; each chunk's clicks go into the
    engine's user history vectors (:meth:`Engine.remember_click`), as served traffic would, so later feed
    requests retrieve from the users' histories.
    """
    from sitewide.ports import RequestBatch
    from sitewide.simulator.behaviour import respond

    s = int(world.config.slots)
    ids = list(engine.catalogue_ids())
    # engine rows ↔ world product rows (the engine sorts its catalogue by id)
    world_row = {p.id: i for i, p in enumerate(world.product_list)}
    e2w = np.array([world_row[i] for i in ids], dtype=np.int64)
    w2e = np.empty_like(e2w)
    w2e[e2w] = np.arange(len(e2w))
    parts: list[dict[str, Any]] = []
    queries_all: list[str] = []
    for start in range(0, n_requests, chunk):
        n = min(chunk, n_requests - start)
        users, kind, intent, queries = _sample_requests(world, n, rng)
        uids = [world.users.ids[u] for u in users.tolist()]
        batch = RequestBatch([f"x{start + i}" for i in range(n)], uids, kind, queries, 0, s)
        cand_e, sim = engine.retrieve(batch)
        cand = np.where(cand_e >= 0, e2w[np.maximum(cand_e, 0)], -1)  # world rows
        # random distinct candidates, in random (= slot) order; the draws go to the candidates in product order, so
        # the same candidates show the same slate whatever order retrieval put them in (common random numbers)
        keys = np.empty(cand.shape)
        np.put_along_axis(keys, np.argsort(cand, axis=1, kind="stable"), rng.random(cand.shape), axis=1)
        keys[cand < 0] = np.inf
        pick = np.argsort(keys, axis=1)[:, :s]
        shown = np.take_along_axis(cand, pick, axis=1)  # -1 where the row had fewer than s candidates
        valid = shown >= 0
        intent_col = np.where(kind == 0, intent, -1)
        resp = respond(world, users, kind, intent_col, shown, rng)
        position = np.full(cand.shape, -1, dtype=np.int64)
        rr = np.broadcast_to(np.arange(n)[:, None], pick.shape)
        slot = np.broadcast_to(np.arange(s)[None, :], pick.shape)
        position[rr[valid], pick[valid]] = slot[valid]
        full: dict[str, Any] = {}
        bot = world.users.is_bot[users][:, None]
        exam = world.exam[:s][None, :]
        for name, val in (
            ("click", resp.click & valid),
            ("order", resp.buy & resp.click & valid),
            (
                "true_click",
                np.where(valid, np.where(bot, world.config.bot_click_prob, resp.pctr) * exam, 0.0),
            ),
        ):
            arr = np.zeros(cand.shape, dtype=val.dtype)
            arr[rr[valid], pick[valid]] = val[valid]
            full[name] = arr
        # the true P(click | examined) and P(order | click) of every candidate, shown or not (to evaluate rankings)
        full["true_pctr"] = np.where(
            cand >= 0,
            world.true_pctr(users[:, None], np.maximum(cand, 0), kind[:, None], intent_col[:, None]),
            0.0,
        )
        full["true_pcvr"] = np.where(
            (cand >= 0) & ~bot, world.true_pcvr(users[:, None], np.maximum(cand, 0)), 0.0
        )
        full.update(cand=cand, sim=sim, position=position, users=users, kind=kind, intent=intent_col)
        parts.append(full)
        queries_all += queries
        cr, cs = np.nonzero(resp.click & valid & ~bot)
        for r_, s_ in zip(cr.tolist(), cs.tolist(), strict=True):
            engine.remember_click(uids[r_], ids[int(w2e[shown[r_, s_]])])

    def cat(name: str) -> Any:
        return np.concatenate([p[name] for p in parts], axis=0)

    log = RankingLog(
        ScoreInput(
            product=cat("cand"),
            request_kind=cat("kind"),
            user=cat("users"),
            similarity=cat("sim"),
            position=cat("position"),
        ),
        click=cat("click"),
        order=cat("order"),
    )
    return SimLog(
        log,
        cat("true_click"),
        cat("true_pctr"),
        cat("true_pcvr"),
        cat("users"),
        cat("kind"),
        cat("intent"),
        queries_all,
    )


# ---- the engine's own events -----------------------------------------------------------------------------------
def log_from_events(
    events: Sequence[Event], product_row: dict[str, int], user_row: dict[str, int], slots: int = 10
) -> RankingLog:
    """Impressions (with ``request_id`` and ``position``) joined with clicks on (request, product) and orders on
    ``click_id``. Request kind is not in the events: rows are marked feed (1) unless a click says otherwise;
    similarity is unknown (0). Positions in events are 1-based."""
    imps = [e for e in events if e.kind is EventKind.IMPRESSION and e.position is not None]
    if not imps:
        raise ValidationError("no impressions with positions in the events")
    clicks = {(e.request_id, e.product_id): e.id for e in events if e.kind is EventKind.CLICK}
    ordered = {e.click_id for e in events if e.kind is EventKind.ORDER and e.click_id}
    req_ids = sorted({e.request_id for e in imps})
    rix = {r: i for i, r in enumerate(req_ids)}
    r = len(req_ids)
    prod = np.full((r, slots), -1, dtype=np.int64)
    pos = np.zeros((r, slots), dtype=np.int64)
    click = np.zeros((r, slots), dtype=bool)
    order = np.zeros((r, slots), dtype=bool)
    user = np.full(r, -1, dtype=np.int64)
    for e in imps:
        p = product_row.get(e.product_id)
        slot = int(e.position or 1) - 1
        if p is None or not 0 <= slot < slots:
            continue
        i = rix[e.request_id]
        prod[i, slot] = p
        pos[i, slot] = slot
        user[i] = user_row.get(e.user_id, -1)
        cid = clicks.get((e.request_id, e.product_id))
        click[i, slot] = cid is not None
        order[i, slot] = cid is not None and cid in ordered
    return RankingLog(
        ScoreInput(prod, np.ones(r, dtype=np.int64), user, np.zeros((r, slots)), pos), click, order
    )
