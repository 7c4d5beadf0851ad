from __future__ import annotations

import numpy as np

from sitewide.index.exact import ExactIndex
from sitewide.models.two_tower import make_two_tower_data, product_vectors, request_vectors
from sitewide.training.metrics import recall_at_k
from sitewide.training.ranking import TwoTowerTrainConfig, train_two_tower


def test_two_tower_retrieves_held_out_clicks_better_than_chance_and_deterministically(tiny) -> None:  # type: ignore[no-untyped-def]
    log = tiny.sim.log
    r, s = np.nonzero(log.click)
    tr = np.isin(r, tiny.train)
    data = make_two_tower_data(
        tiny.products,
        tiny.texts,
        tiny.users,
        tiny.sim.queries,
        tiny.sim.users,
        tiny.sim.kind,
        r[tr],
        log.inputs.product[r[tr], s[tr]],
        1 << 15,
    )
    cfg = TwoTowerTrainConfig(epochs=4, batch_size=256, seed=3, progress=False)
    model = train_two_tower(data, cfg)
    pv = product_vectors(model, data)
    assert pv.shape == (len(tiny.products), 64)
    assert np.allclose(np.linalg.norm(pv, axis=1), 1.0, atol=1e-5)
    te = np.array(sorted(set(r[np.isin(r, tiny.test)].tolist())))
    rel = [set(log.inputs.product[i, log.click[i]].tolist()) for i in te]
    idx = ExactIndex()
    idx.build(np.arange(len(pv)), pv)
    got, _ = idx.search(request_vectors(model, data, te), 50)
    chance = 50 / len(tiny.products)
    assert recall_at_k(got, rel, 50) > 2 * chance
    again = train_two_tower(data, cfg)
    assert np.array_equal(product_vectors(again, data), pv)
