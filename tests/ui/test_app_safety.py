"""Who can reach the app and what it may run: loopback unless a login is set, nothing served but
Gradio's own cache, no model code executed unless asked (the live checks are in test_live_safety.py)."""

from __future__ import annotations

import json
import os

import pytest

import app


@pytest.mark.parametrize("argv", [[], ["--host", "localhost"], ["--host", "::1"], ["--host", "127.0.0.1"]])
def test_this_machine_only_needs_no_login(argv):
    arguments = app.parse_arguments(argv)
    assert arguments.auth is None and not arguments.share
    assert app.parse_arguments([]).host == "127.0.0.1"


@pytest.mark.parametrize("argv", [["--host", "0.0.0.0"], ["--host", "::"], ["--host", "192.168.1.20"],
                                  ["--host", "studio.example.org"], ["--share"], ["--share", "--host", "localhost"],
                                  ["--host", "0.0.0.0", "--auth", "no-colon"]])
def test_others_cannot_be_let_in_without_a_login(argv, capsys):
    with pytest.raises(SystemExit):
        app.parse_arguments(argv)
    assert "--auth" in capsys.readouterr().err


@pytest.mark.parametrize("argv, expected", [
    ([], {"server_name": "127.0.0.1", "share": False, "auth": None}),
    (["--host", "0.0.0.0", "--auth", "me:pass:word"], {"server_name": "0.0.0.0", "share": False,
                                                        "auth": ("me", "pass:word")}),
])
def test_the_launch_opens_no_more_than_asked(argv, expected, monkeypatch, workspace, launched):
    """No allowed_paths: Gradio then serves only its own upload cache, never the project or the workspace."""
    from studio.access import ALLOW_PATHS_ENV, REMOTE_CODE_ENV

    # main() sets what requests may reach for the whole process; the other tests keep theirs.
    monkeypatch.setenv(ALLOW_PATHS_ENV, "inherited")
    monkeypatch.setenv(REMOTE_CODE_ENV, "1")
    app.main([*argv, "--no-browser", "--port", "7999"])
    assert {key: launched[key] for key in expected} == expected
    assert not launched.get("allowed_paths") and not launched.get("inbrowser")
    # An inherited setting does not widen what requests reach: only the launch flags do.
    assert os.environ[ALLOW_PATHS_ENV] == "" and os.environ[REMOTE_CODE_ENV] == ""
    assert launched["max_file_size"] == app.MAX_UPLOAD_MB * 1_000_000 and launched["app_kwargs"]["middleware"]


def test_model_code_never_runs_unless_asked(tmp_path):
    """A model folder that ships Python is refused by every loader the app uses (chat, compare, export)."""
    from studio.generate import load_for_chat

    (tmp_path / "config.json").write_text(json.dumps({
        "model_type": "custom-thing", "auto_map": {"AutoConfig": "configuration_x.XConfig",
                                                   "AutoModelForCausalLM": "modeling_x.XModel"}}))
    (tmp_path / "configuration_x.py").write_text("raise SystemExit('remote code ran')\n")
    with pytest.raises(ValueError, match="trust_remote_code"):
        load_for_chat(str(tmp_path))
