"""Every input the running app accepts over HTTP is contained and bounded (raw requests, as any caller can send).

One app (app.py as users start it, no launch flags) over a workspace with a finished tiny run; each test
sends what a widget would never send and checks the refusal, and that nothing was written, lost or leaked:
run names that climb out of runs/, a split of a long-named dataset, a save over another session's dataset,
server files as training data, foreign Host and Origin headers, model code, NaN and huge numbers, models
outside the workspace, links in a run folder, an upload while another session edits, a long events file,
answer lengths, saved presets, and a training job started from the command line.
"""

from __future__ import annotations

import json
import re
import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
import zipfile
from pathlib import Path

import httpx
import pytest

from studio.config import load_config
from tests.conftest import PROJECT, write_jsonl
from tests.ui.conftest import running_app

pytestmark = pytest.mark.slow

SECRET = "secret-value-7731"
LONG_NAME = "评论" * 20  # 40 Chinese characters: 120 bytes, the longest name a dataset keeps
NO_EXAMPLES = {"headers": ["question", "answer"], "data": []}


@pytest.fixture(scope="module")
def app(trained_workspace, tmp_path_factory, outside):
    workspace = tmp_path_factory.mktemp("bounds-workspace")
    shutil.copytree(trained_workspace / "runs", workspace / "runs")
    linked = workspace / "runs" / "linked"  # a finished run whose adapter folder holds links out of it
    shutil.copytree(workspace / "runs" / "tiny-lora", linked)
    (linked / "adapter" / "stolen.jsonl").symlink_to(outside / "keys.jsonl")
    (linked / "adapter" / "elsewhere").symlink_to(outside, target_is_directory=True)
    (workspace / "datasets").mkdir()
    rows = [{"instruction": f"question {number}", "input": "", "output": f"answer {number}"} for number in range(10)]
    write_jsonl(workspace / "datasets" / "mine.jsonl", rows)
    write_jsonl(workspace / "datasets" / f"{LONG_NAME}.jsonl", rows)
    yield from running_app(workspace)


@pytest.fixture(scope="module")
def outside(tmp_path_factory) -> Path:
    """Files beside the workspace that no request may read or write: a fake run and a secret 'dataset'."""
    folder = tmp_path_factory.mktemp("outside")
    run = folder / "fakerun"
    run.mkdir()
    (run / "config.yaml").write_text("method: lora\ndataset: d.jsonl\ntrust_remote_code: true\n")
    (run / "train.log").write_text(f"{SECRET}\n")
    write_jsonl(folder / "keys.jsonl", [{"api_key": SECRET, "owner": "someone"}])
    (folder / "model").mkdir()
    (folder / "model" / "config.json").write_text("{}")
    return folder


class Session:
    """One browser session, talking Gradio's queue protocol by hand: any value goes, as from any HTTP client."""

    def __init__(self, url: str):
        self.url, self.hash = url, uuid.uuid4().hex[:12]
        self.dependencies = httpx.get(f"{url}/config", timeout=30).json()["dependencies"]

    def call(self, api_name: str, data: list, event_data=None, timeout: float = 120) -> tuple[bool, object]:
        """(success, outputs or the error message) of one event."""
        dependency = next(item for item in self.dependencies if item.get("api_name") == api_name)
        # Gradio refuses a list of the wrong length with no message, which would pass for the refusal under test.
        assert len(data) == len(dependency["inputs"]), (api_name, len(data), len(dependency["inputs"]))
        body = json.dumps({"data": data, "event_data": event_data, "fn_index": dependency["id"], "trigger_id": None,
                           "session_hash": self.hash})  # json.dumps writes NaN and Infinity as a raw client may
        joined = httpx.post(f"{self.url}/gradio_api/queue/join", content=body,
                            headers={"Content-Type": "application/json"}, timeout=30)
        if joined.status_code != 200:
            return False, joined.text
        event_id = joined.json()["event_id"]
        with httpx.stream("GET", f"{self.url}/gradio_api/queue/data", params={"session_hash": self.hash},
                          timeout=timeout) as stream:
            for line in stream.iter_lines():
                if not line.startswith("data:"):
                    continue
                message = json.loads(line[5:])
                if message.get("event_id") == event_id and message.get("msg") == "process_completed":
                    output = message.get("output") or {}
                    return bool(message.get("success")), output.get("data", output.get("error"))
        raise AssertionError(f"{api_name}: the stream ended without a result")


def settings(**overrides) -> list:
    """The Train tab's setting values in widget order, as its Start button sends them."""
    from studio.ui import train_form

    values = train_form.setting_values(load_config("cpu-lora", {"dataset": "mine", "max_steps": 2}))
    for name, value in overrides.items():
        values[train_form.SETTINGS.index(name)] = value
    return values


def tree(folder: Path) -> dict:
    return {str(path.relative_to(folder)): path.stat().st_mtime_ns for path in sorted(folder.rglob("*"))}


def test_run_names_from_a_request_stay_inside_runs(app, outside):
    url, workspace = app
    before = tree(outside)
    session = Session(url)
    relative = os.path.relpath(outside / "fakerun", workspace / "runs")
    for value in (relative, str(outside / "fakerun"), "../../etc", "tiny-lora/../..", ".", ""):
        ok, answer = session.call("selected_run", [], event_data={"index": [0, 0], "value": value, "row_value": [value]})
        assert not ok and SECRET not in str(answer), value
    ok, answer = session.call("resume_run", [None])
    assert not ok and "Select a run" in str(answer)
    assert tree(outside) == before  # no job.json, no summary, nothing spawned there
    # A run of the workspace is still followed, and a finished one cannot be resumed (it would be trained again).
    ok, _ = session.call("selected_run", [], event_data={"index": [0, 0], "value": "tiny-lora", "row_value": ["tiny-lora"]})
    assert ok
    summary = (workspace / "runs" / "tiny-lora" / "summary.json").read_text()
    ok, answer = session.call("resume_run", [None])
    assert not ok and "has finished" in str(answer)
    assert (workspace / "runs" / "tiny-lora" / "summary.json").read_text() == summary


def test_a_split_never_lands_on_its_source_or_an_earlier_split(app):
    url, workspace = app
    datasets = workspace / "datasets"
    source = datasets / f"{LONG_NAME}.jsonl"
    original = source.read_bytes()
    session = Session(url)
    assert session.call("open_saved", [LONG_NAME])[0]
    for _ in range(2):
        ok, answer = session.call("split", [None, 0.2, 1])
        assert ok, answer
    assert source.read_bytes() == original
    names = sorted(path.name for path in datasets.iterdir() if path.name.startswith(LONG_NAME[:10]))
    trains = [name for name in names if name.endswith(("-train.jsonl", "-train-2.jsonl"))]
    validations = [name for name in names if name.endswith(("-validation.jsonl", "-validation-2.jsonl"))]
    assert len(trains) == 2 and len(validations) == 2, names
    for name in trains:
        assert len((datasets / name).read_text().splitlines()) == 8


def test_a_save_never_replaces_a_dataset_this_draft_did_not_open(app):
    url, workspace = app
    path = workspace / "datasets" / "mine.jsonl"
    first, second, third = Session(url), Session(url), Session(url)
    assert first.call("open_saved", ["mine"])[0] and second.call("open_saved", ["mine"])[0]
    assert second.call("add_row", [None])[0]
    ok, answer = second.call("delete", [None, "11"])
    assert ok, answer
    time.sleep(0.05)
    ok, answer = second.call("save", [None, "mine"])  # the draft that opened it saves it: allowed
    assert ok, answer
    saved = path.read_bytes()
    ok, answer = first.call("save", [None, "mine"])  # opened before that save: refused
    assert not ok and "saved again since you opened it" in str(answer)
    assert third.call("open_saved", [LONG_NAME])[0]
    ok, answer = third.call("save", [None, "mine"])  # another dataset saved under this name: refused
    assert not ok and "already in the workspace" in str(answer) and "mine-2" in str(answer)
    assert path.read_bytes() == saved


def test_training_data_and_models_come_from_the_workspace_only(app, outside):
    url, workspace = app
    runs_before = sorted(path.name for path in (workspace / "runs").iterdir())
    session = Session(url)
    for name, value in (("dataset", str(outside / "keys.jsonl")), ("dataset", "/etc/passwd"),
                        ("dataset", "../../keys"), ("validation_dataset", str(outside / "keys.jsonl")),
                        ("base_model", str(outside / "model")), ("base_model", "/etc"), ("base_model", "../model"),
                        ("start_from", str(outside / "fakerun"))):
        for endpoint in ("preview_command", "start_run", "estimate_settings"):
            # Start takes the run's name first.
            ok, answer = session.call(endpoint, ([""] if endpoint == "start_run" else []) + settings(**{name: value}))
            assert not ok and SECRET not in str(answer) and "api_key" not in str(answer), (endpoint, name, value)
    ok, answer = session.call("start_run", ["", *settings(trust_remote_code=True)])
    assert not ok and "--allow-remote-code" in str(answer)
    for model in (str(outside / "model"), "/etc", "exports/../../outside"):
        ok, answer = session.call("chat", ["hello", [], model, "", NO_EXAMPLES, 0, 0.9, 50, 4, 1.0, 0, True, "auto", None])
        assert not ok and SECRET not in str(answer), model
    assert sorted(path.name for path in (workspace / "runs").iterdir()) == runs_before


def test_numbers_must_be_finite_and_in_range(app):
    url, workspace = app
    runs_before = sorted(path.name for path in (workspace / "runs").iterdir())
    session = Session(url)
    for name, value in (("learning_rate", float("nan")), ("epochs", float("inf")), ("epochs", 1e9),
                        ("warmup_ratio", 2.0), ("weight_decay", float("nan")), ("max_grad_norm", float("nan")),
                        ("preference_beta", float("nan")), ("batch_size", float("nan")), ("seed", -3)):
        ok, answer = session.call("start_run", ["", *settings(**{name: value})])
        assert not ok and (name in str(answer) or "value" in str(answer).lower()), (name, value, answer)
    ok, answer = session.call("chat", ["hi", [], "embedded", "", NO_EXAMPLES, float("nan"), 0.9, 50, 4, 1.0, 0, True, "auto", None])
    assert not ok and "temperature" in str(answer)
    ok, answer = session.call("batch", ["tiny-lora", "validation", 1, 10**9, None])
    assert not ok and re.search("max_new_tokens|maximum", str(answer)), answer  # Gradio's slider or our own check
    ok, answer = session.call("general", ["tiny-lora", 10**9])
    assert not ok and re.search("max_new_tokens|maximum", str(answer)), answer
    assert sorted(path.name for path in (workspace / "runs").iterdir()) == runs_before


def test_only_the_app_itself_is_served(app):
    url, _ = app
    assert httpx.get(url).status_code == 200
    rebound = httpx.get(url, headers={"Host": "rebind.attacker.example"})
    assert rebound.status_code == 403 and "gradio" not in rebound.text.lower()
    assert httpx.get(f"{url}/config", headers={"Host": "rebind.attacker.example:7860"}).status_code == 403
    port = url.rsplit(":", 1)[1]
    for origin in ("http://attacker.example", "null", f"http://localhost.attacker.example:{port}"):
        response = httpx.get(f"{url}/config", headers={"Origin": origin})
        assert response.status_code == 403 and response.headers.get("access-control-allow-origin") != origin
    assert httpx.get(f"{url}/config", headers={"Origin": url}).status_code == 200


def test_links_in_a_run_folder_are_not_exported(app, outside):
    url, workspace = app
    session = Session(url)
    ok, answer = session.call("make_zip", ["linked"])
    assert ok, answer
    with zipfile.ZipFile(workspace / "exports" / "linked-adapter.zip") as archive:
        names = archive.namelist()
        assert names and not any("stolen" in name or "elsewhere" in name for name in names)
        assert not any(SECRET.encode() in archive.read(name) for name in names)
    # A refused dataset export leaves no folder behind.
    downloads = workspace / "cache" / "downloads"
    before = sorted(downloads.iterdir()) if downloads.exists() else []
    assert session.call("create", ["empty", "instruction"])[0]
    assert not session.call("export", [None])[0]
    assert (sorted(downloads.iterdir()) if downloads.exists() else []) == before


def test_a_large_upload_holds_up_no_other_session(app, tmp_path):
    url, workspace = app
    big = tmp_path / "big.jsonl"
    row = {"instruction": "word " * 400, "input": "", "output": "ok"}
    write_jsonl(big, [row] * 15_000)
    assert big.stat().st_size > 30_000_000
    uploader, editor = Session(url), Session(url)
    stored = httpx.post(f"{url}/gradio_api/upload", files={"files": ("big.jsonl", big.read_bytes())}, timeout=120).json()[0]
    result = {}
    thread = threading.Thread(target=lambda: result.update(upload=uploader.call("upload", [
        {"path": stored, "orig_name": "big.jsonl", "meta": {"_type": "gradio.FileData"}}, None], timeout=600)))
    thread.start()
    time.sleep(1.0)  # the upload is being read
    started = time.time()
    ok, answer = editor.call("create", ["quick", "text"])
    assert ok, answer
    assert time.time() - started < 1.0
    thread.join(600)
    assert result["upload"][0], result
    # Past the upload limit (100 MB by default) a file is refused before it is stored.
    too_big = httpx.post(f"{url}/gradio_api/upload", files={"files": ("huge.jsonl", b"x" * 101_000_000)}, timeout=120)
    assert too_big.status_code == 413


def test_a_long_run_is_followed_cheaply_and_plotted_in_a_few_hundred_points(app):
    from studio.events import follow

    url, workspace = app
    run = workspace / "runs" / "long"
    shutil.copytree(workspace / "runs" / "tiny-lora", run)
    lines = [json.dumps({"event": "prepared", "total_steps": 200_000})]
    lines += [json.dumps({"step": step, "loss": 1 / step, "learning_rate": 1e-4, "elapsed": step, "eta": 1})
              for step in range(1, 200_001)]
    (run / "events.jsonl").write_text("\n".join(lines) + "\n")
    session = Session(url)
    ok, _ = session.call("selected_run", [], event_data={"index": [0, 0], "value": "long", "row_value": ["long"]})
    assert ok
    ok, shown = session.call("follow_run", [None])  # the view the select shows
    assert ok, shown
    chart = shown[4]  # status and busy (kept on the server), status line, progress, loss chart (SVG), ...
    points = re.search(r'<polyline points="([^"]*)"', chart).group(1).split()
    assert 100 <= len(points) <= 500
    follow(run)  # the first read of a long file, then a refresh with nothing new is cheap
    started = time.perf_counter()
    follow(run)
    assert time.perf_counter() - started < 0.2


def test_presets_are_saved_in_the_workspace_and_never_switch_on_model_code(app):
    url, workspace = app
    shipped = sorted(path.name for path in (PROJECT / "presets").glob("*.yaml"))
    session = Session(url)
    (workspace / "presets").mkdir(exist_ok=True)  # a preset file written by hand, listed once a save refreshes the list
    (workspace / "presets" / "sneaky.yaml").write_text("trust_remote_code: true\nbase_model: /etc\nlora_rank: 4\n")
    ok, answer = session.call("save_settings_as_preset", ["team lora", *settings(lora_rank=4)])
    assert ok, answer
    assert (workspace / "presets" / "team-lora.yaml").exists()
    assert sorted(path.name for path in (PROJECT / "presets").glob("*.yaml")) == shipped
    ok, values = session.call("apply_preset", ["sneaky", "embedded", "mine"])
    assert ok, values
    from studio.ui import train_form

    assert values[train_form.SETTINGS.index("trust_remote_code")] is False
    assert values[train_form.SETTINGS.index("base_model")] == "embedded"
    ok, answer = session.call("apply_preset", ["../../etc/passwd", "embedded", "mine"])
    assert not ok


def test_a_command_line_run_is_seen_as_running_and_no_second_job_starts(app, tiny_model_dir, tmp_path):
    url, workspace = app
    data = write_jsonl(tmp_path / "cli.jsonl", [{"instruction": "say yes", "input": str(n), "output": "yes"}
                                                for n in range(12)])
    run = workspace / "runs" / "from-cli"
    environment = {**os.environ, "STUDIO_WORKSPACE": str(workspace), "PYTHONPATH": str(PROJECT)}
    process = subprocess.Popen([sys.executable, "-m", "studio", "train", "--dataset", str(data), "--output", run.name,
                                "--set", f"base_model={tiny_model_dir}", "--set", "max_steps=100000", "--set",
                                "batch_size=2", "--set", "cutoff_length=64", "--set", "eval_steps=0", "--set",
                                "save_steps=100000"], cwd=workspace / "runs", env=environment, stdout=subprocess.DEVNULL,
                               stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 240
        while time.time() < deadline and not (run / "events.jsonl").exists():
            time.sleep(0.5)
        assert (run / "job.json").exists()
        session = Session(url)
        ok, _ = session.call("selected_run", [], event_data={"index": [0, 0], "value": run.name, "row_value": [run.name]})
        assert ok
        ok, shown = session.call("follow_run", [None])
        assert ok and "running" in shown[2], shown[2]  # the status line
        ok, answer = session.call("start_run", ["", *settings()])
        assert not ok and "already running" in str(answer)
    finally:
        (run / "abort").touch()
        try:
            process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            process.kill()


def test_the_queue_comparisons_reports_and_gguf_take_only_this_workspaces_runs_and_bounded_values(app, outside):
    """Remove from queue, Add to queue, Queue comparison, the reports and the GGUF export, sent what no widget
    sends: runs outside the workspace or not queued (a finished run is never deleted as if it waited), data and
    models outside it, numbers out of range; each is refused and nothing is written, removed or leaked."""
    url, workspace = app
    before, runs_before = tree(outside), tree(workspace / "runs")
    exports = workspace / "exports"
    exports_before = tree(exports) if exports.exists() else {}
    session = Session(url)
    relative = os.path.relpath(outside / "fakerun", workspace / "runs")
    for value in (relative, str(outside / "fakerun"), "../../etc", "", None):
        for api_name, data in (("remove_queued", [value]), ("remove_waiting", [value]), ("make_report", [value]),
                               ("make_gguf", [value, "q8_0"]), ("comparison_report", ["runs", None, [value]])):
            ok, answer = session.call(api_name, data)
            assert (not ok or str(answer[0]).startswith("⚠️")) and SECRET not in str(answer), (api_name, value)
    # A finished run is not waiting: it stays. (Remove from queue acts on the run the page follows, kept on the
    # server: a request cannot name one.)
    ok, answer = session.call("remove_waiting", ["tiny-lora"])
    assert not ok and "tiny-lora" in str(answer)
    ok, answer = session.call("remove_queued", ["tiny-lora"])
    assert not ok and "Select a queued run" in str(answer)
    ok, answer = session.call("make_gguf", ["tiny-lora", "q4_k_m"])  # not one of the radio's choices
    assert not ok or str(answer[0]).startswith("⚠️")
    for overrides in ({"dataset": str(outside / "keys.jsonl")}, {"base_model": str(outside / "model")},
                      {"max_steps": float("nan")}, {"heldout": str(outside / "keys.jsonl")}):
        ok, answer = session.call("enqueue_run", [None, "", *settings(**overrides)])
        assert not ok and SECRET not in str(answer), overrides
    form = {"dataset": "mine", "preset": "cpu-lora", "variable": "method", "methods": ["lora", "ia3"], "values": "",
            "heldout": "validation", "heldout_rows": 4, "base_model": "embedded", "max_steps": 2, "name": "probe"}
    for changed in ({"dataset": str(outside / "keys.jsonl")}, {"base_model": str(outside / "model")},
                    {"heldout": str(outside / "keys.jsonl")}, {"heldout_rows": float("nan")}, {"max_steps": 1e12},
                    {"methods": ["lora", "../../etc"]}, {"variable": "output_dir", "values": "/tmp/a, /tmp/b"},
                    {"preset": str(outside / "fakerun" / "config.yaml")}, {"name": "../escape"}):
        ok, answer = session.call("queue_comparison", list({**form, **changed}.values()))
        assert not ok and SECRET not in str(answer), changed
    assert tree(outside) == before and tree(workspace / "runs") == runs_before
    assert (tree(exports) if exports.exists() else {}) == exports_before
    assert not (workspace / "experiments").exists() or not list((workspace / "experiments").iterdir())
