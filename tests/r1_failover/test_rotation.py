"""``Rotation``: round robin, cool-down with an injected clock, thread safety, pickling."""

from __future__ import annotations

import pickle
import threading
from collections import Counter

import pytest

from r1_failover import Rotation


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_each_order_starts_one_further_along() -> None:
    rotation = Rotation(["a", "b", "c"], cooldown_s=5.0)
    orders = [rotation.order() for _ in range(4)]
    assert orders == [["a", "b", "c"], ["b", "c", "a"], ["c", "a", "b"], ["a", "b", "c"]]


def test_a_failed_member_goes_to_the_back_until_its_cooldown_ends() -> None:
    clock = FakeClock()
    rotation = Rotation(["a", "b", "c"], cooldown_s=5.0, clock=clock)
    rotation.failed("a")
    assert rotation.order() == ["b", "c", "a"]
    assert rotation.order() == ["b", "c", "a"]
    clock.now += 4.9
    assert rotation.order() == ["c", "b", "a"]  # still cooling: after the others, in turn
    clock.now += 0.1
    assert rotation.order() == ["a", "b", "c"]  # its cool-down is over: back in its turn


def test_success_ends_the_cooldown_at_once() -> None:
    clock = FakeClock()
    rotation = Rotation(["a", "b"], cooldown_s=30.0, clock=clock)
    rotation.failed("a")
    assert rotation.order() == ["b", "a"]
    rotation.succeeded("a")
    assert rotation.order() == ["b", "a"]  # its turn came round: b starts this one
    assert rotation.order() == ["a", "b"]


def test_every_member_cooling_keeps_them_all_in_turn() -> None:
    clock = FakeClock()
    rotation = Rotation(["a", "b"], cooldown_s=5.0, clock=clock)
    rotation.failed("a")
    rotation.failed("b")
    assert rotation.order() == ["a", "b"]
    assert rotation.order() == ["b", "a"]


def test_a_zero_cooldown_never_reorders() -> None:
    clock = FakeClock()
    rotation = Rotation([0, 1, 2], cooldown_s=0.0, clock=clock)
    rotation.failed(0)
    assert rotation.order() == [0, 1, 2]


def test_no_members_no_order_and_a_negative_cooldown_is_refused() -> None:
    assert Rotation([], cooldown_s=1.0).order() == []
    with pytest.raises(ValueError, match="must not be negative"):
        Rotation(["a"], cooldown_s=-1.0)


def test_concurrent_orders_take_every_turn_exactly_once() -> None:
    members = ["a", "b", "c", "d", "e"]
    rotation = Rotation(members, cooldown_s=5.0)
    starts: Counter[str] = Counter()
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        for _ in range(500):
            first = rotation.order()[0]
            with lock:
                starts[first] += 1

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert starts == {member: 800 for member in members}  # 8 x 500 orders, no turn lost or taken twice


def test_a_pickled_copy_starts_afresh() -> None:
    rotation = Rotation(["a", "b"], cooldown_s=5.0)
    rotation.failed("a")
    rotation.order()
    copy = pickle.loads(pickle.dumps(rotation))
    assert (copy.members, copy.cooldown_s) == (("a", "b"), 5.0)
    assert copy.order() == ["a", "b"]
    assert rotation.order() == ["b", "a"]
