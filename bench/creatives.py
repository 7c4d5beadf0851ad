"""Creatives: how many generated creatives pass the checks, and how fast the bandit finds the best one.

1. Checks: the offline generator writes copy (en + zh) for the 80 packaged products with real text (40 clothing
   items with their real reviews, 40 Taobao items with their real attributes); every draft is checked; the
   share that passes and the rules that rejected the rest are printed.
2. Bandit: a simulated market (the calibrated world: users, products, campaigns) is served by the real engine;
   every promoted product gets its approved offline creatives (en + zh, from its catalogue facts). Users click a
   promoted slot with the world's true pCTR × their hidden creative lift (``simulator/creative_taste.py``; the
   engine never sees it); the engine chooses creatives by Thompson sampling and learns only from the clicks the
   simulator sends back as events. On the same impressions, the expected CTR of the engine's choices is compared
   with the best single creative of each (product, placement) in hindsight, with uniform rotation and with the
   merchant's first creative. The headline counts impressions after the first ``WARMUP`` impressions of each
   (product, placement); the curve by impression index shows the whole path. Search traffic only (one
   placement at Ali-CCP's calibrated CTR; the feed's 0.4 % CTR needs ~10× the impressions), 60 products all
   promoted, the engine's priors scorer (the creative is chosen after the auction, so the scorer only decides
   which products win slots; the priors scorer is ~2.5× faster than the learned one, which buys the quick run
   200,000 requests), budgets that never bind (a campaign that runs out stops showing creatives, which would
   only shorten the run). The engine counts served slots as impressions and learns from the click events only.

``python bench/creatives.py [--quick]``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import resource  # noqa: E402
import time  # noqa: E402
import zlib  # noqa: E402
from collections import Counter  # noqa: E402

import numpy as np  # noqa: E402

from sitewide.creative.fixtures import load_reviewed_products  # noqa: E402
from sitewide.creative.generate import OfflineGenerator  # noqa: E402
from sitewide.creative.studio import BrandKitBook, CreativeStudio, facts_of  # noqa: E402
from sitewide.domain.creative import BrandKit, Lang  # noqa: E402
from sitewide.domain.money import Micros  # noqa: E402
from sitewide.domain.types import Event, EventKind  # noqa: E402
from sitewide.engine import EngineConfig  # noqa: E402
from sitewide.ports import RequestBatch  # noqa: E402
from sitewide.simulator import SimConfig, build_world  # noqa: E402
from sitewide.simulator.behaviour import respond  # noqa: E402
from sitewide.simulator.creative_taste import CreativeTaste  # noqa: E402
from sitewide.simulator.world import SEARCH  # noqa: E402
from sitewide.wiring import world_engine  # noqa: E402

WARMUP = 2_000  # impressions of one (product, placement) after which the headline is measured
TARGET = 0.90
TONES = (("effortless", "timeless"), ("bold", "fresh"), ("smart", "reliable"))
BINS = (0, 250, 500, 1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 1 << 40)


def check_share() -> tuple[float, int, Counter[str], list[str]]:
    studio = CreativeStudio(OfflineGenerator())
    book = BrandKitBook()
    book.put(
        BrandKit(
            "s-retailer", tone_words=("effortless",), required_terms=("Retailer",), banned_words=("cheap",)
        )
    )
    total = passed = 0
    why: Counter[str] = Counter()
    examples: list[str] = []
    for p in load_reviewed_products():
        res = studio.make(p.facts, p.reviews, book.get(p.facts.shop_id, p.facts.brand), p.langs)
        for c in res.creatives:
            total += 1
            passed += c.check.passed
            for v in c.check.violations:
                why[v.rule] += 1
                if len(examples) < 4:
                    examples.append(f"{c.draft.title!r}: {v.rule}: {v.detail}")
    return passed / total, total, why, examples


def run_bandit(
    requests: int,
    batch: int,
    seed: int,
    products: int,
    search_share: float,
    appeal_sd: float,
    warmup: int,
    scorer: str = "priors",
) -> dict[str, object]:
    cfg = SimConfig(
        users=3_000,
        merchants=3,
        products=products,
        campaign_share=1.0,
        seed=seed,
        search_share=search_share,
        daily_budget_per_product=10_000_000_000,  # budgets never bind: the bench is about creatives, not pacing
    )
    world = build_world(cfg)
    engine = world_engine(world, EngineConfig(scorer=scorer))
    rng = np.random.default_rng([seed, 7])
    taste = CreativeTaste(len(world.users), np.random.default_rng([seed, 8]), appeal_sd=appeal_sd)
    studio = CreativeStudio(OfflineGenerator())
    promoted = {pid for c in world.campaigns for pid in c.product_ids}
    by_id = {p.id: p for p in world.product_list}
    n_gen = n_ok = 0
    arms: dict[str, list[str]] = {}
    for pid in sorted(promoted):
        p = by_id[pid]
        kit = BrandKit(
            p.shop_id,
            tone_words=TONES[zlib.crc32(p.shop_id.encode()) % len(TONES)],
            required_terms=(p.brand,) if p.brand else (),
        )
        res = studio.make(facts_of(p), [], kit, (Lang.EN, Lang.ZH))
        n_gen += len(res.creatives)
        n_ok += len(res.approved)
        if len(res.approved) >= 2:
            engine.creatives.set_creatives(pid, res.approved)  # type: ignore[attr-defined]
            taste.register(list(res.approved))
            arms[pid] = [c.id for c in res.approved]
    ids = list(engine.catalogue_ids())
    index = {p.id: i for i, p in enumerate(world.product_list)}
    e2w = np.array([index[i] for i in ids], dtype=np.int64)
    act = world.users.activity / world.users.activity.sum()
    rows_key: list[str] = []
    rows_user: list[int] = []
    rows_base: list[float] = []
    rows_chosen: list[str] = []
    served_bad = 0
    n_clicks = 0
    t0 = time.perf_counter()
    for b in range(requests // batch):
        users = rng.choice(len(world.users), size=batch, p=act)
        kind = np.where(rng.random(batch) < cfg.search_share, SEARCH, 1).astype(np.int64)
        intent, target = world.sample_intent(users, rng)
        q = [
            world.products.query[j] if k == SEARCH else ""
            for j, k in zip(target.tolist(), kind.tolist(), strict=True)
        ]
        rids = [f"r{b}-{i}" for i in range(batch)]
        uids = [world.users.ids[u] for u in users.tolist()]
        ts = world.base_ms + b * 60_000
        sb = engine.serve_batch(RequestBatch(rids, uids, kind, q, ts, cfg.slots))
        prod = np.where(sb.product_idx >= 0, e2w[np.maximum(sb.product_idx, 0)], -1)
        resp = respond(world, users, kind, intent, prod, rng)
        cre = sb.creative
        assert cre is not None
        click = resp.click.copy()
        ri, si = np.nonzero(cre != None)  # noqa: E711
        if len(ri):
            cids = [str(c) for c in cre[ri, si]]
            served_bad += sum(1 for c in cids if not engine.creatives.get(c).check.passed)  # type: ignore[attr-defined]
            bot = world.users.is_bot[users[ri]]
            base = np.where(bot, cfg.bot_click_prob, resp.pctr[ri, si]) * world.exam[si]
            lift = np.where(bot, 1.0, taste.lift(users[ri], cids))
            click[ri, si] = rng.random(len(ri)) < np.minimum(base * lift, 1.0)
            human = ~bot
            pl = np.where(kind[ri] == SEARCH, "search", "feed")
            for k in np.flatnonzero(human).tolist():
                rows_key.append(f"{ids[int(sb.product_idx[ri[k], si[k]])]}|{pl[k]}")
                rows_user.append(int(users[ri[k]]))
                rows_base.append(float(base[k]))
                rows_chosen.append(cids[k])
        events = []
        for i, s in zip(*np.nonzero(click & (prod >= 0)), strict=True):
            events.append(
                Event(
                    id=f"c{b}-{i}-{s}", kind=EventKind.CLICK, ts_ms=ts + 1_000, user_id=uids[i],
                    product_id=ids[int(sb.product_idx[i, s])], request_id=rids[i],
                    campaign_id=engine.campaign_ids()[int(sb.campaign_idx[i, s])] if sb.promoted[i, s] else None,
                    position=int(s) + 1, price_micros=Micros(int(sb.price_cpc_micros[i, s])),
                )
            )  # fmt: skip
        n_clicks += len(events)
        for j in range(0, len(events), 1_000):
            engine.record_events(events[j : j + 1_000])
    elapsed = time.perf_counter() - t0

    # evaluation on the same impressions: expected clicks of the engine's choice vs fixed policies
    keys = np.array(rows_key)
    users_a = np.array(rows_user, dtype=np.int64)
    base_a = np.array(rows_base)
    tot = {"bandit": 0.0, "best": 0.0, "uniform": 0.0, "first": 0.0}
    curve = np.zeros((len(BINS) - 1, 2))
    n_after = 0
    groups = 0
    for key in np.unique(keys):
        idx = np.flatnonzero(keys == key)
        pid = key.split("|")[0]
        cs = arms[pid]
        col = {c: j for j, c in enumerate(cs)}
        p = np.stack(
            [np.minimum(base_a[idx] * taste.lift(users_a[idx], [c] * len(idx)), 1.0) for c in cs], axis=1
        )
        chosen = p[np.arange(len(idx)), [col[rows_chosen[i]] for i in idx.tolist()]]
        best = p[:, int(np.argmax(p.sum(axis=0)))]
        n = np.arange(len(idx))
        for bi in range(len(BINS) - 1):
            m = (n >= BINS[bi]) & (n < BINS[bi + 1])
            curve[bi] += (chosen[m].sum(), best[m].sum())
        late = n >= warmup
        if late.any():
            groups += 1
            n_after += int(late.sum())
            tot["bandit"] += chosen[late].sum()
            tot["best"] += best[late].sum()
            tot["uniform"] += p[late].mean(axis=1).sum()
            tot["first"] += p[late, 0].sum()
    return {
        "elapsed": elapsed,
        "requests": requests,
        "impressions": len(keys),
        "keys": len(np.unique(keys)),
        "groups_after": groups,
        "n_after": n_after,
        "tot": tot,
        "curve": curve,
        "clicks": n_clicks,
        "served_bad": served_bad,
        "catalogue_pass": n_ok / max(n_gen, 1),
        "products": len(arms),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--requests", type=int, default=0)
    ap.add_argument("--products", type=int, default=60)
    ap.add_argument("--search-share", type=float, default=1.0)
    ap.add_argument("--appeal-sd", type=float, default=0.3)
    ap.add_argument("--warmup", type=int, default=WARMUP)
    a = ap.parse_args()
    share, total, why, examples = check_share()
    print(f"checks: {total} offline drafts (en+zh) for 80 packaged products with real reviews/attributes")
    print(f"  passed {share:.1%}; rejected by rule: {dict(why) or 'none'}")
    for e in examples:
        print(f"  e.g. {e}")
    requests = a.requests or (200_000 if a.quick else 1_000_000)
    r = run_bandit(requests, 2_000, a.seed, a.products, a.search_share, a.appeal_sd, a.warmup)
    tot = r["tot"]
    assert isinstance(tot, dict)
    print(
        f"bandit: {r['requests']} requests in {r['elapsed']:.1f}s, {r['impressions']} human promoted impressions with "
        f"a creative over {r['keys']} (product, placement) pairs of {r['products']} products, {r['clicks']} clicks sent "
        f"back as events; creatives passing the checks (catalogue facts only): {r['catalogue_pass']:.1%}"
    )
    print(f"  served creatives that had failed the checks: {r['served_bad']}")
    curve = r["curve"]
    assert isinstance(curve, np.ndarray)
    for bi in range(len(BINS) - 1):
        lo, hi = BINS[bi], BINS[bi + 1]
        if curve[bi, 1] > 0:
            print(
                f"  impressions {lo:>5}–{hi if hi < 1 << 40 else '∞':>5} of a pair: bandit / best = {curve[bi, 0] / curve[bi, 1]:.3f}"
            )
    best = tot["best"]
    ratio = tot["bandit"] / best if best else 0.0
    uni = tot["uniform"] / best if best else 0.0
    first = tot["first"] / best if best else 0.0
    print(
        f"  after the first {a.warmup} impressions of each pair ({r['groups_after']} pairs, {r['n_after']} impressions): "
        f"bandit {ratio:.3f}, uniform rotation {uni:.3f}, merchant's first creative {first:.3f} of the best creative's CTR"
    )
    print(
        f"metric: bandit_ctr_vs_best={ratio:.4f} baseline={uni:.4f} ratio={ratio / uni if uni else 0:.4f} target={TARGET}"
    )
    print(
        f"metric: bandit_vs_first_creative={ratio:.4f} baseline={first:.4f} ratio={ratio / first if first else 0:.4f}"
    )
    print(f"metric: creatives_pass_share={share:.4f}")
    print(f"metric: peak_rss_mb={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f}")


if __name__ == "__main__":
    main()
