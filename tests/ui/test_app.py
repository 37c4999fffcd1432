"""The app shell: builds without launching, lists runs, and refuses to open itself to others without a login."""

from __future__ import annotations

import json

import pytest

import app
from studio.jobs import JobManager


def test_share_or_other_hosts_need_auth(capsys):
    for argv in (["--share"], ["--host", "0.0.0.0"]):
        with pytest.raises(SystemExit):
            app.parse_arguments(argv)
        assert "--auth" in capsys.readouterr().err
    assert app.parse_arguments(["--host", "0.0.0.0", "--auth", "me:secret"]).auth == "me:secret"


def test_first_free_port_skips_a_busy_one():
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        assert app.first_free_port("127.0.0.1", taken) != taken


def test_ui_builds_and_lists_runs(workspace):
    from studio.ui import build_ui
    from studio.ui.train_runs import runs_table

    run = workspace / "runs" / "demo"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text("method: lora\nstage: sft\ndataset: /data/reviews.jsonl\n")
    (run / "summary.json").write_text(json.dumps({"status": "finished", "train_loss": 0.2, "eval_loss": 0.25}))
    build_ui(JobManager())
    assert runs_table(JobManager()) == [["demo", "finished", "lora", "sft", "reviews.jsonl", 0.2, 0.25, None]]
