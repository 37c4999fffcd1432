"""The Chat tab's API panel: the model picked in Chat served over the OpenAI-compatible API on the app's own port.

The switch serves only what Chat may open (a name that climbs out of the workspace is refused and nothing is
served); the panel says where, by which name and with which key, in the page's language; the app's launch sets
the key (made at launch for a host others can reach); and an app, launched, answers OpenAI's client with the
model switched on in the panel, refusing a wrong key.
"""

from __future__ import annotations

import os

import gradio as gr
import openai
import pytest
from gradio_client import Client

import app
from studio import serve
from studio.jobs import JobManager
from studio.ui import chat_tab, serve_panel
from studio.ui.guard import host_guard
from tests.ui.conftest import running_app, zh_page

KEY = "panel-key-5150"
RUN = "tiny-lora"
QUESTION = [{"role": "user", "content": "great food and friendly staff"}]  # the tiny run answers "positive"


@pytest.fixture
def in_app():
    """The app's endpoint with nothing served and no key; as it was after the test."""
    endpoint = serve.IN_APP
    saved = endpoint.model, endpoint.key, endpoint.url
    endpoint.model, endpoint.key, endpoint.url = None, None, "http://127.0.0.1:7860/v1"
    yield endpoint
    endpoint.model, endpoint.key, endpoint.url = saved


def test_the_switch_serves_only_a_model_chat_may_open(trained_run, in_app):
    for value in ("../../etc", "/etc", f"{RUN}/../../outside", "exports/../runs", "runs/../../x"):
        with pytest.raises(gr.Error):
            serve_panel.switch_serving(True, value)
        assert in_app.model is None, value
    switch, status, example = serve_panel.switch_serving(True, RUN)
    assert switch is True and in_app.model == serve.ServedModel(RUN)
    assert f"`{RUN}`" in status and "`http://127.0.0.1:7860/v1`" in status and "--api-key" in status
    assert example["visible"] and f'model="{RUN}"' in example["value"] and 'api_key="none"' in example["value"]
    assert serve_panel.switch_serving(False, RUN)[0] is False and in_app.model is None


def test_picking_another_model_while_serving_serves_that_one(trained_run, tiny_model_dir, in_app):
    serve_panel.follow(True, str(tiny_model_dir))
    assert in_app.model is None  # nothing was served: picking a model does not switch serving on
    serve_panel.switch_serving(True, RUN)
    serve_panel.follow(True, str(tiny_model_dir))
    assert in_app.model.name == str(tiny_model_dir)
    with pytest.raises(gr.Error):
        serve_panel.follow(True, "../../etc")
    assert in_app.model.name == str(tiny_model_dir)
    # Chat's precision goes with it: a precision picked while serving reloads the model at that one.
    serve_panel.follow(True, str(tiny_model_dir), "int8")
    assert in_app.model == serve.ServedModel(str(tiny_model_dir), "int8")
    with pytest.raises(gr.Error, match="Precision takes one of"):
        serve_panel.follow(True, str(tiny_model_dir), "fp64")
    assert in_app.model.precision == "int8"


def test_the_panel_shows_the_key_in_the_pages_language(trained_run, in_app):
    in_app.key = KEY
    serve_panel.switch_serving(True, RUN)
    _, status, example = serve_panel.panel(zh_page())
    assert "正在以 auto 精度提供" in status and f"`{KEY}`" in status and f'api_key="{KEY}"' in example["value"]
    assert serve_panel.panel(None)[1].startswith(f"Serving `{RUN}` at auto.")


@pytest.mark.parametrize("argv, environment, keyed", [
    ([], {}, False), (["--api-key", KEY], {}, True), ([], {serve.KEY_ENV: KEY}, True),
    (["--host", "0.0.0.0", "--auth", "me:secret"], {}, True), (["--share", "--auth", "me:secret"], {}, True)])
def test_the_launch_sets_the_apis_key(argv, environment, keyed, in_app, launched, workspace, monkeypatch):
    """A launch others can reach always has a key: the one given, else a new one, shown only in the panel."""
    from studio.access import ALLOW_PATHS_ENV, REMOTE_CODE_ENV

    for name in (ALLOW_PATHS_ENV, REMOTE_CODE_ENV):  # main() sets them for the process; the other tests keep theirs
        monkeypatch.setenv(name, os.environ.get(name, ""))
    monkeypatch.delenv(serve.KEY_ENV, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    app.main([*argv, "--no-browser", "--port", "7999"])
    assert bool(in_app.key) == keyed
    if KEY in argv or environment:
        assert in_app.key == KEY
    assert [route.path for route in launched["app_kwargs"]["routes"]][:2] == ["/v1/models", "/v1/chat/completions"]


def test_the_app_serves_the_chat_model_to_openais_client(trained_run, in_app):
    """The Chat tab on a launched Blocks with the app's routes, as app.py launches it."""
    in_app.key = KEY
    with gr.Blocks() as demo:
        chat_tab.build(JobManager())
    demo.queue().launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True,
                        app_kwargs={"middleware": [host_guard("127.0.0.1", [])], "routes": in_app.routes()})
    try:
        answer_streamed(demo.local_url.rstrip("/"))
    finally:
        demo.close()


def answer_streamed(url: str) -> None:
    """Nothing served until the panel's switch; then the run, streamed to OpenAI's client; a wrong key refused."""
    api = openai.OpenAI(base_url=f"{url}/v1", api_key=KEY, max_retries=0, timeout=60)
    with pytest.raises(openai.NotFoundError, match="Chat tab"):
        api.chat.completions.create(model=RUN, messages=QUESTION)
    assert api.models.list().data == []
    Client(url, verbose=False).predict(True, RUN, api_name="/serve")
    assert [model.id for model in api.models.list().data] == [RUN]
    stream = api.chat.completions.create(model=RUN, messages=QUESTION, temperature=0, max_tokens=10, stream=True)
    assert "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices) == "positive"
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{url}/v1", api_key="wrong", max_retries=0).models.list()


@pytest.mark.slow  # starts training jobs or servers as processes of their own
def test_the_launched_app_serves_the_chat_model(trained_workspace):
    """app.py as users start it, with --api-key."""
    running = running_app(trained_workspace, "--api-key", KEY)
    url, _ = next(running)
    try:
        answer_streamed(url)
    finally:
        next(running, None)
