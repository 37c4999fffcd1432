"""Following a run's events.jsonl: read on from the last read, a new file starts over, long series are thinned."""

from __future__ import annotations

import json

from studio.events import RunEvents, follow, thin


def write(path, events, mode="a"):
    with open(path, mode, encoding="utf-8") as handle:
        handle.write("".join(json.dumps(event) + "\n" for event in events))


def test_reads_on_from_where_it_stopped_and_starts_over_on_a_new_file(tmp_path):
    path = tmp_path / "events.jsonl"
    write(path, [{"event": "prepared", "total_steps": 4}, {"step": 1, "loss": 2.0}])
    events = RunEvents(path).update()
    assert events.prepared["total_steps"] == 4 and events.last_loss["step"] == 1
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps({"step": 2, "loss": 1.5}) + "\n" + '{"step": 3, "lo')  # a line still being written
    events.update()
    assert [point["step"] for point in events.loss_points()] == [1, 2]
    with open(path, "a", encoding="utf-8") as handle:
        handle.write('ss": 1.0}\n')
    events.update()
    assert [point["loss"] for point in events.loss_points()] == [2.0, 1.5, 1.0]
    write(path, [{"step": 2, "loss": 1.4}])  # a resume logs step 2 again: the last value wins, in place
    assert [point["loss"] for point in events.update().loss_points()] == [2.0, 1.4, 1.0]
    replaced = tmp_path / "new.jsonl"
    write(replaced, [{"event": "prepared", "total_steps": 9}])
    replaced.replace(path)  # a new run in the same folder
    events.update()
    assert events.prepared["total_steps"] == 9 and events.loss_points() == []


def test_thin_keeps_the_first_and_last_and_at_most_the_limit():
    assert thin(list(range(10)), 20) == list(range(10))
    thinned = thin(list(range(200_000)), 250)
    assert len(thinned) == 250 and thinned[0] == 0 and thinned[-1] == 199_999


def test_a_long_run_is_plotted_in_a_few_hundred_points_and_a_second_read_reads_nothing(tmp_path, monkeypatch):
    write(tmp_path / "events.jsonl", [{"step": step, "loss": 1 / step} for step in range(1, 200_001)]
          + [{"step": step, "eval_loss": 1 / step} for step in range(1000, 200_001, 1000)])
    view = follow(tmp_path)
    assert len(view["loss_points"]) <= 500 and view["loss_points"][-1]["step"] == 200_000
    monkeypatch.setattr(RunEvents, "_add", lambda self, event: (_ for _ in ()).throw(AssertionError("read again")))
    assert follow(tmp_path)["loss_points"] == view["loss_points"]
