"""The budget-lease writes of the Store port, shared by the memory and SQL stores: each is one atomic change
of a batch of campaign-day rows (:mod:`sitewide.domain.budget_lease` says what a draw and a return do to a
row); a store provides only that atomic change."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence

from sitewide.domain.budget_lease import Draw, RowChange, draw_changes, return_changes


class LeaseRows(ABC):
    @abstractmethod
    def _change(
        self, day: int, changes: Mapping[str, RowChange], budgets: Mapping[str, int]
    ) -> dict[str, int]:
        """Apply ``changes`` to the day's rows of their campaigns in one atomic step (a missing row starts
        with ``budgets[campaign]``, else 0); what each change granted."""

    def draw_budgets(self, day: int, draws: Sequence[Draw]) -> dict[str, int]:
        return self._change(day, draw_changes(draws), {d.campaign_id: d.budget_micros for d in draws})

    def return_budgets(self, day: int, unused: Mapping[str, int]) -> None:
        self._change(day, return_changes(unused), {})
