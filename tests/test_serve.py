"""The OpenAI-compatible API (studio.serve), driven by OpenAI's own Python client against a real server.

The finished tiny run is served by uvicorn on a free loopback port, in a thread, with a key. Its answers must be
the studio's own (stream_chat's greedy answer to the same messages), whole and streamed; stop strings cut them;
a seed repeats a sampled one. Wrong and missing keys, values out of range, other models, names that climb out of
the workspace and bodies that are not JSON are refused with a 4xx in OpenAI's error shape, and write nothing. A
client that leaves mid-stream ends the answer. `python -m studio serve` refuses to listen beyond this machine
without a key, names a model it cannot serve at once, and serves a run.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import openai
import pytest
import uvicorn

from studio import serve
from studio.__main__ import main
from studio.chat import fitted_messages, model_source
from studio.generate import cached_model, stream_chat
from studio.sampling import GenerationSettings
from tests.conftest import PROJECT, wait_for

KEY = "test-key-4821"
RUN = "tiny-lora"
QUESTION = "great food and friendly staff"  # the tiny run answers "positive", then stops
SYSTEM, ASKED = "Answer in one word.", "what is the colour of the sky"  # "positivepositive..." to the last token


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def api(trained_run):
    """The tiny run served with a key on a free loopback port: its base URL."""
    endpoint = serve.Endpoint(key=KEY)
    endpoint.serve(serve.ServedModel(RUN))
    config = uvicorn.Config(serve.api_app(endpoint), host="127.0.0.1", port=free_port(), log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, timeout=30)
    yield f"http://127.0.0.1:{config.port}/v1"
    server.should_exit = True
    thread.join(timeout=30)


def client(url: str, key: str = KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=url, api_key=key, max_retries=0, timeout=60)


def studio_answer(system: str, question: str, settings: GenerationSettings) -> str:
    """What the studio's own chat code answers: stream_chat on the messages Chat would send."""
    model, tokenizer = cached_model(*model_source(RUN))
    messages = fitted_messages(model, tokenizer, system, [], [], question, settings.max_new_tokens)
    text = ""
    for text in stream_chat(model, tokenizer, messages, settings):
        pass
    return text


def streamed(stream) -> tuple[str, list]:
    chunks = list(stream)
    return "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices), chunks


def test_lists_the_served_model(api):
    listed = client(api).models.list().data
    assert [(model.id, model.object, model.owned_by) for model in listed] == [(RUN, "model", serve.OWNER)]


def test_answers_are_the_studios_own_whole_and_streamed(api):
    expected = studio_answer("", QUESTION, GenerationSettings(temperature=0, max_new_tokens=10))
    assert expected == "positive"
    whole = client(api).chat.completions.create(model=RUN, messages=[{"role": "user", "content": QUESTION}],
                                                temperature=0, max_tokens=10)
    choice = whole.choices[0]
    assert (whole.object, whole.model, choice.message.role, choice.message.content, choice.finish_reason) == (
        "chat.completion", RUN, "assistant", expected, "stop")
    assert 0 < whole.usage.completion_tokens < 10 and whole.usage.prompt_tokens > 0
    assert whole.usage.total_tokens == whole.usage.prompt_tokens + whole.usage.completion_tokens
    text, chunks = streamed(client(api).chat.completions.create(
        model=RUN, messages=[{"role": "user", "content": QUESTION}], temperature=0, max_tokens=10, stream=True,
        stream_options={"include_usage": True}))
    assert text == expected
    assert chunks[0].object == "chat.completion.chunk" and chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens == whole.usage.total_tokens


def test_a_system_prompt_and_text_parts_read_as_chat_reads_them_to_the_token_limit(api):
    expected = studio_answer(SYSTEM, ASKED, GenerationSettings(temperature=0, max_new_tokens=8))
    parts = [{"type": "text", "text": ASKED[:10]}, {"type": "text", "text": ASKED[10:]}]
    asked = dict(model=RUN, messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": parts}],
                 temperature=0, max_tokens=8, extra_body={"unknown_field": {"ignored": True}})
    whole = client(api).chat.completions.create(**asked)
    assert (whole.choices[0].message.content, whole.choices[0].finish_reason) == (expected, "length")
    assert whole.usage.completion_tokens == 8
    text, chunks = streamed(client(api).chat.completions.create(**asked, stream=True))
    assert (text, chunks[-1].choices[0].finish_reason) == (expected, "length")


def test_a_stop_string_cuts_the_answer(api):
    full = studio_answer(SYSTEM, ASKED, GenerationSettings(temperature=0, max_new_tokens=16))
    assert "tive" in full
    expected = full[:full.find("tive")]
    asked = dict(model=RUN, messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": ASKED}],
                 temperature=0, max_tokens=16)
    whole = client(api).chat.completions.create(**asked, stop=["tive", "never-said-7731"])
    assert (whole.choices[0].message.content, whole.choices[0].finish_reason) == (expected, "stop")
    text, chunks = streamed(client(api).chat.completions.create(**asked, stop="tive", stream=True))
    assert (text, chunks[-1].choices[0].finish_reason) == (expected, "stop")


def test_a_seed_repeats_a_sampled_answer(api):
    """With seed 3 the tiny run writes two characters a byte at a time (its text ends in a broken character until
    the next token): the stream sends a character once it is whole, and adds up to the same answer."""
    asked = dict(model=RUN, messages=[{"role": "user", "content": QUESTION}], temperature=1.0, top_p=1.0,
                 max_tokens=12, seed=3)
    first, second = (client(api).chat.completions.create(**asked).choices[0].message.content for _ in range(2))
    expected = studio_answer("", QUESTION, GenerationSettings(temperature=1.0, top_p=1.0, top_k=50,
                                                               max_new_tokens=12, seed=3))
    assert first == second == expected
    assert streamed(client(api).chat.completions.create(**asked, stream=True))[0] == expected


def test_a_wrong_or_missing_key_is_refused(api):
    asked = dict(model=RUN, messages=[{"role": "user", "content": "hi"}], max_tokens=2)
    with pytest.raises(openai.AuthenticationError):
        client(api, "wrong-key").chat.completions.create(**asked)
    with pytest.raises(openai.AuthenticationError):
        client(api).chat.completions.create(**asked, extra_headers={"Authorization": openai.Omit()})
    refused = httpx.post(f"{api}/chat/completions", json=asked, timeout=30)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_api_key"
    assert httpx.get(f"{api}/models", headers={"Authorization": f"Bearer {KEY}x"}, timeout=30).status_code == 401


def files_under(folder: Path) -> dict[str, float]:
    return {str(path.relative_to(folder)): path.stat().st_mtime for path in sorted(folder.rglob("*"))}


BAD_REQUESTS = [  # (what is changed in a good request, the status)
    ({"temperature": 3}, 400), ({"temperature": -0.5}, 400), ({"temperature": "hot"}, 400),
    ({"top_p": 0}, 400), ({"max_tokens": 0}, 400), ({"max_tokens": 5000}, 400), ({"max_tokens": 2.5}, 400),
    ({"max_completion_tokens": 10**9}, 400), ({"seed": -1}, 400), ({"n": 2}, 400), ({"stream": "yes"}, 400),
    ({"stop": ["a", "b", "c", "d", "e"]}, 400), ({"stop": [""]}, 400),
    ({"model": "nope"}, 404), ({"model": "../../etc/passwd"}, 404), ({"model": f"{RUN}/../../outside"}, 404),
    ({"model": None}, 400), ({"messages": []}, 400), ({"messages": [{"role": "assistant", "content": "hi"}]}, 400),
    ({"messages": [{"role": "tool", "content": "hi"}]}, 400), ({"messages": [{"role": "user", "content": "x" * 100_001}]}, 400),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "file:///etc/passwd"}}]}]}, 400),
]


def test_bad_requests_get_a_4xx_in_openais_shape_and_write_nothing(api, trained_run):
    good = {"model": RUN, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
    headers = {"Authorization": f"Bearer {KEY}"}
    assert httpx.post(f"{api}/chat/completions", json=good, headers=headers, timeout=60).status_code == 200
    workspace = trained_run.parent.parent
    before = files_under(workspace)
    for change, status in BAD_REQUESTS:
        answer = httpx.post(f"{api}/chat/completions", json={**good, **change}, headers=headers, timeout=60)
        assert answer.status_code == status, (change, answer.text)
        error = answer.json()["error"]
        assert set(error) == {"message", "type", "param", "code"} and error["message"], change
    for body in (b"not json", b'{"model": "tiny-lora", "temperature": NaN}', b"[1, 2]", b"\xff\xfe"):
        answer = httpx.post(f"{api}/chat/completions", content=body, headers=headers, timeout=60)
        assert answer.status_code == 400 and answer.json()["error"]["type"] == "invalid_request_error", body
    with pytest.raises(openai.BadRequestError, match="temperature must be a number from 0 to 2"):
        client(api).chat.completions.create(model=RUN, messages=good["messages"], temperature=2.5)
    with pytest.raises(openai.NotFoundError, match="serves 'tiny-lora'"):
        client(api).chat.completions.create(model="../runs", messages=good["messages"])
    assert files_under(workspace) == before


def test_a_client_that_leaves_mid_stream_ends_the_answer(api, monkeypatch):
    """The answer stops being written, and its generator is closed (which frees the model), once the client
    has gone."""
    import studio.generate

    steps, closed = [], threading.Event()

    def endless(model, tokenizer, messages, settings, stop=None):
        try:
            text = ""
            while not (stop and stop.is_set()):
                text += "a "
                steps.append(len(text))
                yield text
                time.sleep(0.02)
        finally:
            closed.set()

    monkeypatch.setattr(studio.generate, "stream_chat", endless)
    body = {"model": RUN, "messages": [{"role": "user", "content": "hi"}], "stream": True}
    with httpx.stream("POST", f"{api}/chat/completions", json=body, headers={"Authorization": f"Bearer {KEY}"},
                      timeout=30) as answer:
        lines = answer.iter_lines()
        received = [next(lines) for _ in range(6)]
    assert any(line.startswith("data: ") for line in received)
    wait_for(closed.is_set, timeout=15)
    written = len(steps)
    time.sleep(0.3)
    assert len(steps) == written


def test_serve_refuses_other_hosts_without_a_key(trained_run, capsys, monkeypatch):
    monkeypatch.delenv(serve.KEY_ENV, raising=False)
    assert main(["serve", "--model", RUN, "--host", "0.0.0.0"]) == 2
    assert "--api-key" in capsys.readouterr().err


def test_serve_names_a_model_it_cannot_serve_at_once(trained_run, capsys):
    assert main(["serve", "--model", "no-such-run", "--port", str(free_port())]) == 1
    assert "no-such-run" in capsys.readouterr().err


def test_nothing_served_says_what_to_do(trained_run):
    from starlette.testclient import TestClient

    answer = TestClient(serve.api_app(serve.Endpoint())).post(
        "/v1/chat/completions", json={"model": RUN, "messages": [{"role": "user", "content": "hi"}]})
    assert answer.status_code == 404 and "Chat tab" in answer.json()["error"]["message"]


@pytest.mark.slow  # starts training jobs or servers as processes of their own
def test_the_serve_command_serves_a_run(trained_run):
    port = free_port()
    environment = {**os.environ, "STUDIO_WORKSPACE": str(trained_run.parent.parent), serve.KEY_ENV: KEY}
    process = subprocess.Popen([sys.executable, "-m", "studio", "serve", "--model", RUN, "--port", str(port)],
                               cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env=environment)
    try:
        printed = ""
        while "Serving" not in printed:
            line = process.stdout.readline()
            assert line, f"serve exited: {printed}"
            printed += line
        url = f"http://127.0.0.1:{port}/v1"
        assert url in printed
        wait_for(lambda: listening(port), timeout=30)
        assert [model.id for model in client(url).models.list().data] == [RUN]
        answer = client(url).chat.completions.create(model=RUN, messages=[{"role": "user", "content": "hi"}],
                                                     temperature=0, max_tokens=3)
        assert answer.choices[0].finish_reason in ("stop", "length")
        with pytest.raises(openai.AuthenticationError):
            client(url, "wrong").models.list()
    finally:
        process.terminate()
        process.wait(timeout=30)
