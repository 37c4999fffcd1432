"""The app at rest: its event queue polls slowly enough that an idle app takes almost no CPU, and a click still
starts at once.

The CPU check runs app.py as a user starts it and reads its CPU time as `python -m bench.idle` does; with
Gradio's own poll intervals on Linux (1 ms and 10 ms) the same app takes several percent of a core.
"""

from __future__ import annotations

import time
from types import SimpleNamespace

import gradio as gr
import pytest
from gradio_client import Client

import app
from bench.idle import running_app, sample
from studio.ui.idle import POLL_INTERVALS, quiet_queue

IDLE_PERCENT = 2.0  # of one core; Gradio's own intervals take 4-5 % on the two-core test machine
SETTLE_SECONDS = 3
SAMPLE_SECONDS = 5
EVENT_SECONDS = 10


def test_the_queue_polls_at_the_quiet_intervals():
    with gr.Blocks() as demo:
        gr.Button()
    assert quiet_queue(demo.queue()) is demo
    assert {name: getattr(demo._queue, name) for name in POLL_INTERVALS} == POLL_INTERVALS
    assert all(0.02 <= seconds <= 0.1 for seconds in POLL_INTERVALS.values())  # a click still starts at once


def test_a_queue_without_these_intervals_is_left_as_it_is():
    """A Gradio release that renames them keeps its own: nothing is added, nothing fails."""
    queue = SimpleNamespace(poll_seconds=0.001)
    quiet_queue(SimpleNamespace(_queue=queue))
    assert vars(queue) == {"poll_seconds": 0.001}
    quiet_queue(SimpleNamespace())


def test_the_launch_uses_the_quiet_queue(workspace, monkeypatch):
    import studio.ui
    from studio import serve
    from studio.access import ALLOW_PATHS_ENV, REMOTE_CODE_ENV

    # main() sets these for the whole process; the other tests keep theirs.
    for name in (ALLOW_PATHS_ENV, REMOTE_CODE_ENV):
        monkeypatch.setenv(name, "")
    monkeypatch.setattr(serve.IN_APP, "key", serve.IN_APP.key)
    monkeypatch.setattr(serve.IN_APP, "url", serve.IN_APP.url)
    with gr.Blocks() as demo:
        gr.Button()
    intervals = {}
    monkeypatch.setattr(demo, "launch", lambda **options: intervals.update(
        {name: getattr(demo._queue, name) for name in POLL_INTERVALS}))
    monkeypatch.setattr(studio.ui, "build_ui", lambda: demo)
    app.main(["--no-browser", "--port", "7999"])
    assert intervals == POLL_INTERVALS


@pytest.mark.slow  # starts training jobs or servers as processes of their own
def test_an_idle_app_takes_almost_no_cpu_and_still_answers(tmp_path):
    with running_app(tmp_path) as (process, url):
        time.sleep(SETTLE_SECONDS)
        percent, threads = sample(process.pid, SAMPLE_SECONDS)
        assert percent < IDLE_PERCENT, threads
        start = time.monotonic()
        update = Client(url, verbose=False).predict(api_name="/saved_choices")
        assert time.monotonic() - start < EVENT_SECONDS
    assert update["choices"] == []  # a fresh workspace has no saved datasets
