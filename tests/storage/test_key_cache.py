"""Accepted API keys are remembered for a second (the serving routes' key check reads no database then), and a
revocation in this process applies at once; one made by another process within the cache's second."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import create_engine

from sitewide.storage.accounts import AccountStore
from sitewide.storage.operator_keys import OperatorKeys


class Clock:
    def now_ms(self) -> int:
        return 1_767_225_600_000


def test_accepted_keys_are_remembered_and_revocations_apply(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.sqlite'}"
    a, other = AccountStore(create_engine(url), Clock()), AccountStore(create_engine(url), Clock())
    a.create_merchant("m1", "m1")
    key = a.issue_key("merchant", "m1")
    assert a.authenticated(key) is None  # never accepted yet: the caller must read
    p = a.authenticate(key)
    assert p is not None and a.authenticated(key) == p
    a.revoke_keys("m1")  # this process: forgotten at once
    assert a.authenticated(key) is None and a.authenticate(key) is None
    # another process's revocation: seen once the accepted key is older than key_cache_s
    key2 = a.issue_key("merchant", "m1")
    a.key_cache_s = 0.2
    assert a.authenticate(key2) is not None and a.authenticated(key2) is not None
    other.revoke_keys("m1")
    time.sleep(0.25)
    assert a.authenticated(key2) is None and a.authenticate(key2) is None


def test_operator_key_revocation_and_rotation_forget_accepted_keys(tmp_path: Path) -> None:
    a = AccountStore(create_engine(f"sqlite:///{tmp_path / 'a.sqlite'}"), Clock())
    ops = OperatorKeys(a)
    k1, k2 = ops.create("test"), ops.create("test")
    assert a.authenticate(k1) is not None and a.authenticate(k2) is not None
    ops.revoke("test", k1.split("_")[1])
    assert a.authenticated(k1) is None and a.authenticate(k1) is None
    k3 = ops.rotate("test", k2.split("_")[1])
    assert a.authenticated(k2) is None and a.authenticate(k2) is None
    assert a.authenticate(k3) is not None
