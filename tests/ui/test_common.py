"""What the UI does for the core with widgets' values: a stop flag per session, a table's empty cells."""

from __future__ import annotations

import copy

import pandas as pd

from studio.chat import example_pairs
from studio.ui.common import StopSignal, table_records, table_rows


def test_each_session_gets_its_own_stop_signal():
    signal = StopSignal()
    signal.set()
    copied = copy.deepcopy(signal)
    assert isinstance(copied, StopSignal) and not copied.is_set()


def test_a_tables_empty_cells_reach_the_core_as_none():
    table = pd.DataFrame([["a", "b"], [None, float("nan")], ["  c ", "d"]], columns=["question", "answer"])
    assert table_rows(table) == [["a", "b"], [None, None], ["  c ", "d"]]
    assert example_pairs(table_rows(table)) == [("a", "b"), ("c", "d")]
    assert table_rows(None) == [] and table_rows([["x", float("nan")]]) == [["x", None]]
    assert table_records(pd.DataFrame([{"#": float("nan"), "output": "row"}])) == [{"#": None, "output": "row"}]
