"""Users' response to a served page, vectorised over requests × slots (no Python loop per impression).

This is the simulator's own per-impression work: examination, clicks, purchases. ``bench/simulator.py``
times it against ``respond_loop`` there, the same model written as a plain per-impression loop.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sitewide.domain.types import BoolArray, FloatArray, IntArray
from sitewide.simulator.world import SEARCH, World


@dataclass(frozen=True, slots=True)
class Response:
    """R requests × S slots. ``shown`` marks filled slots; ``click``/``buy`` are realised outcomes."""

    shown: BoolArray
    pctr: FloatArray  # true P(click | examined), 0 where not shown
    pcvr: FloatArray  # true P(order | click)
    click: BoolArray
    buy: BoolArray


def respond(
    world: World,
    users: IntArray,
    kind: IntArray,
    intent: IntArray,
    products: IntArray,
    rng: np.random.Generator,
) -> Response:
    """``products`` [R, S] world product rows (-1 = empty). Humans click examined slots with the true pCTR and
    buy clicked items with the true pCVR; bots click examined slots at a fixed rate and never buy."""
    r, s = products.shape
    shown = products >= 0
    prod = np.where(shown, products, 0)
    u = users[:, None]
    intent_col = np.where(kind == SEARCH, intent, -1)[:, None]
    pctr = world.true_pctr(u, prod, kind[:, None], intent_col)
    pcvr = world.true_pcvr(u, prod)
    bot = world.users.is_bot[users][:, None]
    p_click = np.where(bot, world.config.bot_click_prob, pctr) * world.exam[:s][None, :]
    click = (rng.random((r, s)) < p_click) & shown
    buy = click & ~bot & (rng.random((r, s)) < pcvr)
    return Response(shown=shown, pctr=np.where(shown, pctr, 0.0), pcvr=pcvr, click=click, buy=buy)


def ndcg(world: World, users: IntArray, kind: IntArray, intent: IntArray, products: IntArray) -> FloatArray:
    """NDCG@S of each shown slate under the true pCTR (gain), against the best S products of the whole
    catalogue for that user and request. [R] in [0, 1]."""
    r, s = products.shape
    disc = 1.0 / np.log2(np.arange(s) + 2.0)
    intent_col = np.where(kind == SEARCH, intent, -1)[:, None]
    allp = np.arange(len(world.products))[None, :]
    gains_all = world.true_pctr(users[:, None], allp, kind[:, None], intent_col)
    top = -np.partition(-gains_all, s - 1, axis=1)[:, :s] if gains_all.shape[1] > s else gains_all
    ideal = (-np.sort(-top, axis=1)[:, :s] * disc[: top.shape[1]]).sum(axis=1)
    shown = products >= 0
    g = np.where(shown, gains_all[np.arange(r)[:, None], np.where(shown, products, 0)], 0.0)
    out: FloatArray = (g * disc).sum(axis=1) / np.maximum(ideal, 1e-12)
    return out
