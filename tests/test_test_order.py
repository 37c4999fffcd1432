"""The parallel run's order: the modules that train for minutes start first, spread over the workers' shares."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tests.conftest import spread_long_modules


def item(nodeid: str, seconds: int = 0):
    marks = [pytest.mark.long(seconds).mark] if seconds else []
    return SimpleNamespace(nodeid=nodeid, iter_markers=lambda name: [mark for mark in marks if mark.name == name])


def test_long_modules_open_each_workers_share_and_modules_stay_whole():
    items = ([item(f"tests/test_fast{index}.py::test_{n}") for index in range(6) for n in range(5)]
             + [item("tests/test_review.py::test_cached"), item("tests/test_review.py::test_learns", 540)]
             + [item("tests/test_dpo.py::test_dpo", 550), item("tests/test_rm.py::test_rm", 140)]
             + [item("tests/test_grpo.py::test_grpo", 500)])
    ordered = spread_long_modules(items, 2)
    assert sorted(id(entry) for entry in ordered) == sorted(id(entry) for entry in items)
    share = len(items) // 2  # worksteal's first share
    first, second = [entry.nodeid for entry in ordered[:share]], [entry.nodeid for entry in ordered[share:]]
    # By cost, largest first, each to the lighter worker: dpo 550 | review 540; grpo 500 -> review's; rm 140 -> dpo's.
    assert first[:2] == ["tests/test_dpo.py::test_dpo", "tests/test_rm.py::test_rm"]
    assert second[:3] == ["tests/test_review.py::test_cached", "tests/test_review.py::test_learns",
                          "tests/test_grpo.py::test_grpo"]
    # The rest keep their order, the first share filled up to its size.
    rest = [entry.nodeid for entry in ordered if "fast" in entry.nodeid]
    assert rest == [entry.nodeid for entry in items if "fast" in entry.nodeid]
    assert all("fast" in nodeid for nodeid in first[2:]) and all("fast" in nodeid for nodeid in second[3:])
