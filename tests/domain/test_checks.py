"""``domain.types``' input checks, shared by the bidders, the forecast draft and the quality signals."""

import math

import numpy as np
import pytest

from sitewide.domain.bidding import TruthfulBidder
from sitewide.domain.forecast import CampaignDraft
from sitewide.domain.types import ValidationError, check_int, check_roi, optional_int


@pytest.mark.parametrize("bad", [0, -1.5, math.nan, math.inf, "3"])
def test_a_target_roi_is_a_finite_number_above_zero(bad: object) -> None:
    with pytest.raises(ValidationError, match="target_roi"):
        check_roi("target_roi", bad)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        TruthfulBidder(bad, 1_000_000)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        CampaignDraft(("p1",), bad, 1_000_000)  # type: ignore[arg-type]
    assert check_roi("target_roi", 2.5) == 2.5


@pytest.mark.parametrize("bad", [True, 1.0, "1", -1])
def test_a_count_is_an_integer_not_bool_at_least_its_minimum(bad: object) -> None:
    with pytest.raises(ValidationError, match="n must be"):
        check_int("n", bad)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="n must be"):
        optional_int("n", bad)  # type: ignore[arg-type]


def test_counts_accept_numpy_integers_and_missing_only_where_optional() -> None:
    assert check_int("n", np.int64(3)) == 3 and optional_int("n", None) is None
    assert optional_int("n", -4, minimum=None) == -4
    with pytest.raises(ValidationError, match="daily_budget_micros"):
        CampaignDraft(("p1",), 3.0, 0)
