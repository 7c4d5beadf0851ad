"""What both stores do first with a batch of events: keep the first of each id, count exact repeats, and
refuse an id repeated with a different body (events are idempotent by id)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sitewide.domain.types import Conflict, Event


def first_of_each_id(
    events: Sequence[Event], stored: Mapping[str, Event] | None = None
) -> tuple[dict[str, Event], int]:
    """The batch's new events by id (in order) and how many were exact repeats — of an earlier event in the
    batch, or of one in ``stored`` (what the store already holds, when it can say so cheaply). A repeat with
    a different body raises :class:`Conflict` (nothing is written)."""
    fresh: dict[str, Event] = {}
    repeats = 0
    for e in events:
        prior, where = fresh.get(e.id), "appears twice in the batch"
        if prior is None and stored is not None:
            prior, where = stored.get(e.id), "was already recorded"
        if prior is None:
            fresh[e.id] = e
            continue
        if prior.body() != e.body():
            raise Conflict(f"event {e.id} {where} with a different body")
        repeats += 1
    return fresh, repeats
