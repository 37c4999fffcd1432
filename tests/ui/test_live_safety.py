"""The running app, driven over HTTP and the Gradio API on loopback: what it serves, whom it keeps apart, how it holds up.

- No file outside Gradio's own upload cache is served: not the project, not the workspace, not /etc.
- An API call cannot pass a server path as an upload, or a value outside a dropdown's choices.
- Two sessions keep their own dataset drafts and chat conversations.
- Twenty chat requests at once, while a training job runs, all complete (queued) and the page still answers.

One app (app.py as users start it) serves all the tests, over a copy of the workspace with a finished
tiny run; chat uses the tiny model as its base. Marked slow: the app takes a while to start.
"""

from __future__ import annotations

import json
import shutil
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

from studio.config import RunConfig
from studio.jobs import JobManager
from tests.conftest import PROJECT, write_jsonl
from tests.conftest import logged_steps, wait_for
from tests.ui.conftest import running_app

pytestmark = pytest.mark.slow

CONCURRENT_CHATS = 20
CHAT_DEADLINE = 240  # seconds for all twenty, on two shared cores
RESPONSIVE_SECONDS = 10
SECRET = {"instruction": "secret question", "input": "", "output": "secret answer"}


@pytest.fixture(scope="module")
def app(trained_workspace, tmp_path_factory):
    workspace = tmp_path_factory.mktemp("live-workspace")
    shutil.copytree(trained_workspace / "runs", workspace / "runs")
    (workspace / "datasets").mkdir()
    write_jsonl(workspace / "datasets" / "mine.jsonl", [{"instruction": "q", "input": "", "output": "a"}])
    yield from running_app(workspace)


def chat_arguments(model: str, message: str, history: list | None = None) -> list:
    examples = {"headers": ["question", "answer"], "data": []}
    # message, history, model, system prompt, examples, temperature, top_p, top_k, max new tokens, penalty, seed
    return [message, history or [], model, "", examples, 0.0, 0.9, 50, 8, 1.0, 0]


def texts(conversation: list) -> str:
    return json.dumps(conversation, ensure_ascii=False)


def test_no_file_outside_the_upload_cache_is_served(app, tmp_path):
    url, workspace = app
    outside = tmp_path / "secret.jsonl"
    write_jsonl(outside, [SECRET])
    adapter = next((workspace / "runs" / "tiny-lora" / "adapter").iterdir())
    for path in ("/etc/passwd", PROJECT / "README.md", "README.md", outside, workspace / "datasets" / "mine.jsonl",
                 workspace / "runs" / "tiny-lora" / "config.yaml", adapter, "../../../../etc/passwd",
                 "%2e%2e/%2e%2e/%2e%2e/etc/passwd", f"{workspace}/../{outside.parent.name}/secret.jsonl"):
        response = httpx.get(f"{url}/gradio_api/file={path}")
        assert response.status_code in (403, 404), (path, response.status_code)
        assert "secret answer" not in response.text
    # The route itself works: a file uploaded through Gradio comes back.
    uploaded = httpx.post(f"{url}/gradio_api/upload", files={"files": ("mine.jsonl", outside.read_bytes())}).json()[0]
    assert httpx.get(f"{url}/gradio_api/file={uploaded}").status_code == 200


def test_an_api_call_cannot_name_a_server_file_or_a_value_outside_the_choices(app, tmp_path):
    url, workspace = app
    outside = tmp_path / "secret.jsonl"
    write_jsonl(outside, [SECRET])
    before = sorted(path.name for path in (workspace / "datasets").iterdir())
    for path in (str(outside), f"{workspace}/datasets/../../{outside.parent.name}/secret.jsonl"):
        started = httpx.post(f"{url}/gradio_api/call/upload", json={"data": [
            {"path": path, "orig_name": "secret.jsonl", "meta": {"_type": "gradio.FileData"}}]})
        result = httpx.get(f"{url}/gradio_api/call/upload/{started.json()['event_id']}", timeout=60).text
        assert "event: error" in result and "secret" not in result.replace("secret.jsonl", "")
    assert sorted(path.name for path in (workspace / "datasets").iterdir()) == before

    client = Client(url, verbose=False)
    for run in ("/etc", "../../etc", str(workspace / "runs" / "tiny-lora" / ".." / ".."), "tiny-lora/../.."):
        with pytest.raises(AppError, match="not in the list of choices"):
            client.predict(run, api_name="/make_zip")
        with pytest.raises(AppError, match="not in the list of choices"):
            client.predict(run, "stolen", api_name="/merge")
    for name in ("../../etc/passwd", str(outside)):
        with pytest.raises(AppError, match="not in the list of choices"):
            client.predict(name, api_name="/open_saved")
    assert not (workspace / "exports").exists() or not list((workspace / "exports").iterdir())


def test_two_sessions_keep_their_own_drafts_and_conversations(app, tiny_model_dir):
    url, _ = app
    first, second = Client(url, verbose=False), Client(url, verbose=False)
    first.predict("alpha", "text", api_name="/create")
    second.predict("beta", "instruction", api_name="/create")
    first.predict(api_name="/add_row")
    first.predict(api_name="/add_row")
    assert first.predict(api_name="/check")[0] == 3  # rows in alpha's draft
    assert second.predict(api_name="/check")[0] == 1  # beta's draft is untouched
    conversation, _ = first.predict(*chat_arguments(str(tiny_model_dir), "only the first session says this"),
                                    api_name="/chat")
    assert "only the first session" in texts(conversation)
    other, _ = second.predict(*chat_arguments(str(tiny_model_dir), "the second session's question"), api_name="/chat")
    assert "only the first session" not in texts(other) and "second session" in texts(other)


def test_twenty_chats_at_once_while_a_job_trains_all_finish_and_the_app_answers(app, tiny_model_dir, monkeypatch):
    url, workspace = app
    monkeypatch.setenv("STUDIO_WORKSPACE", str(workspace))
    dataset = workspace / "datasets" / "train.jsonl"
    write_jsonl(dataset, [{"instruction": "say yes", "input": str(number), "output": "yes"} for number in range(12)])
    manager = JobManager()
    run_dir = manager.start(RunConfig(base_model=str(tiny_model_dir), dataset=str(dataset), max_steps=100_000,
                                      batch_size=2, cutoff_length=64, eval_steps=0, save_steps=1000,
                                      output_dir=str(workspace / "runs" / "busy")))
    try:
        wait_for(lambda: len(logged_steps(run_dir)) >= 1, timeout=300)
        clients = [Client(url, verbose=False) for _ in range(4)]
        started = time.time()
        jobs = [clients[number % len(clients)].submit(*chat_arguments(str(tiny_model_dir), f"question {number}"),
                                                      api_name="/chat") for number in range(CONCURRENT_CHATS)]
        with ThreadPoolExecutor(1) as pool:  # the page keeps answering while the chats queue
            page = pool.submit(lambda: (time.time(), httpx.get(url, timeout=RESPONSIVE_SECONDS), time.time()))
            asked, response, answered = page.result(timeout=RESPONSIVE_SECONDS * 2)
        assert response.status_code == 200 and answered - asked < RESPONSIVE_SECONDS
        answers = [job.result(timeout=max(1, CHAT_DEADLINE - (time.time() - started))) for job in jobs]
        assert time.time() - started < CHAT_DEADLINE
        for number, (conversation, _) in enumerate(answers):
            assert f"question {number}" in texts(conversation)
            assert conversation[-1]["role"] == "assistant"
        assert manager.status(run_dir) == "running"  # the job trained on through it all
    finally:
        manager.abort(run_dir)
