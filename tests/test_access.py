"""Names from a request resolve inside the workspace, the samples or a launch folder; model code needs the flag."""

from __future__ import annotations

import pytest

from studio import access
from studio.config import SAMPLES_DIR
from studio.ui.guard import allowed_hosts, refusal


def test_runs_datasets_and_models_resolve_inside_or_are_refused(workspace, tmp_path, monkeypatch):
    monkeypatch.setenv(access.ALLOW_PATHS_ENV, "")
    run = workspace / "runs" / "mine"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text("method: lora\n")
    assert access.client_run("mine") == run.resolve() and access.client_run(str(run)) == run.resolve()
    for value in ("../mine", "..", "", str(tmp_path), "mine/../../x", ".hidden"):
        with pytest.raises(ValueError):
            access.client_run(value)
    (workspace / "datasets").mkdir()
    (workspace / "datasets" / "data.jsonl").write_text("{}\n")
    assert access.client_dataset("data") == str(workspace / "datasets" / "data.jsonl")
    assert access.client_dataset(str(SAMPLES_DIR / "identity.jsonl")).endswith("identity.jsonl")
    outside = tmp_path / "secret.jsonl"
    outside.write_text("{}\n")
    for value in (str(outside), "/etc/passwd", "../secret", str(workspace / "datasets" / ".." / ".." / "secret.jsonl")):
        with pytest.raises(ValueError):
            access.client_dataset(value)
    assert access.client_model("embedded") == "embedded" and access.client_model("Qwen/Qwen2.5-0.5B") == "Qwen/Qwen2.5-0.5B"
    for value in ("/etc", str(tmp_path), "./x", "~/model", "a/b/c"):
        with pytest.raises(ValueError):
            access.client_model(value)
    monkeypatch.setenv(access.ALLOW_PATHS_ENV, str(tmp_path))  # app.py --allow-paths tmp_path
    assert access.client_dataset(str(outside)) == str(outside.resolve())
    assert access.client_model(str(tmp_path)) == str(tmp_path.resolve())


def test_model_code_needs_the_launch_flag(monkeypatch):
    monkeypatch.setenv(access.REMOTE_CODE_ENV, "")
    with pytest.raises(ValueError, match="--allow-remote-code"):
        access.check_remote_code(True)
    access.check_remote_code(False)
    monkeypatch.setenv(access.REMOTE_CODE_ENV, "1")
    access.check_remote_code(True)


def test_hosts_and_origins():
    loopback = allowed_hosts("127.0.0.1", [], share=False)
    assert refusal("127.0.0.1:7860", None, loopback) is None
    assert refusal("localhost:7860", "http://localhost:7860", loopback) is None
    assert refusal("[::1]:7860", None, loopback) is None
    assert refusal("rebind.attacker.example:7860", None, loopback)
    assert refusal("127.0.0.1:7860", "http://attacker.example", loopback)
    assert refusal("127.0.0.1:7860", "null", loopback)
    assert refusal("127.0.0.1:7860", "http://127.0.0.1:9999", loopback)
    assert allowed_hosts("0.0.0.0", [], share=False) is None  # any host, behind a login; origins still checked
    assert refusal("studio.lan:7860", "http://evil.example", None)
    assert refusal("studio.lan:7860", None, allowed_hosts("studio.lan", ["proxy.example"], share=False)) is None
