"""Training and data generation: everything that fits a model or produces a training log.

Sits above ``simulator`` and ``engine`` (it may import both); serving code (``engine``, ``service``,
``models``) never imports it. ``models/`` keeps only what serving loads.

- :mod:`.ranking` — the multi-task ranker and two-tower training loops, ``train_from_simulator``
  (the shipped ranker checkpoint; CLI ``sitewide train``)
- :mod:`.bidding_policy` — the learned bidding policy (hindsight labels, DAgger) and ``save_policy``
- :mod:`.data` — training logs: Open Bandit, the simulator (also through the engine's retrieval), the
  engine's own events
- :mod:`.baselines`, :mod:`.metrics`, :mod:`.losses` — reference models, evaluation metrics, losses
"""
