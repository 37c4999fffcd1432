"""A quiet event queue: Gradio's queue polls less often, so the app costs next to nothing while nobody clicks.

Gradio's queue finds new events by polling: on Linux its loop sleeps 1 ms between empty looks, and its
progress loop 10 ms, which keeps an idle app at several percent of a core, taken from a training job on a small
machine (`python -m bench.idle` measures it). Gradio's own intervals on Windows, 50 ms and 100 ms, are used
here on every system: a click's event starts at most 50 ms later (25 ms on average), and a progress bar
still moves ten times a second.

Neither launch() nor queue() takes these intervals, so they are set on the queue itself where it has them
under these names; a Gradio release that renames or drops them just keeps its own intervals.
"""

from __future__ import annotations

import gradio as gr

# The queue's attribute: seconds it sleeps between polls while nothing waits (Gradio's value on Windows).
POLL_INTERVALS = {"sleep_when_free": 0.05, "progress_update_sleep_when_free": 0.1}


def quiet_queue(demo: gr.Blocks) -> gr.Blocks:
    """Slow the polls of `demo`'s queue (after `demo.queue()`) to POLL_INTERVALS; the same Blocks, to launch."""
    queue = getattr(demo, "_queue", None)
    for name, seconds in POLL_INTERVALS.items():
        if isinstance(getattr(queue, name, None), (int, float)):  # absent in a Gradio that renamed it
            setattr(queue, name, seconds)
    return demo
