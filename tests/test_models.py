"""Model sources: local folders load, bad names and unreachable hub ids fail fast with a clear message."""

from __future__ import annotations

import time

import pytest
import torch

from studio.models import load_model, pick_dtype, resolve_source


def test_local_folder_loads_in_float32_on_cpu(tiny_model_dir):
    model, tokenizer = load_model(str(tiny_model_dir))
    assert model.dtype == torch.float32 and tokenizer.pad_token is not None
    assert resolve_source(str(tiny_model_dir)).kind == "folder"


def test_folder_without_config_is_refused(tmp_path):
    with pytest.raises(ValueError, match="no config.json"):
        resolve_source(str(tmp_path))


def test_missing_gguf_and_nonsense_names_are_refused(tmp_path):
    with pytest.raises(ValueError, match="No GGUF file"):
        resolve_source(str(tmp_path / "missing.gguf"))
    with pytest.raises(ValueError, match="not a model folder"):
        resolve_source("./no/such/folder")


def test_unreachable_hub_id_fails_fast(monkeypatch):
    started = time.time()
    with pytest.raises(ValueError, match="cannot be reached"):
        resolve_source("someone/some-model-that-is-not-cached")
    assert time.time() - started < 10


def test_cpu_precision_is_float32_and_bf16_can_be_asked_for():
    assert pick_dtype("auto", "cpu") == torch.float32
    assert pick_dtype("bf16", "cpu") == torch.bfloat16


def test_remote_code_is_off_unless_asked(tmp_path):
    import json

    (tmp_path / "config.json").write_text(json.dumps({
        "model_type": "custom-thing", "auto_map": {"AutoConfig": "configuration_x.XConfig",
                                                   "AutoModelForCausalLM": "modeling_x.XModel"}}))
    (tmp_path / "configuration_x.py").write_text("raise SystemExit('remote code ran')\n")
    with pytest.raises(ValueError, match="trust_remote_code"):
        load_model(str(tmp_path))


def test_gguf_cache_is_built_once_when_two_processes_ask(tmp_path, monkeypatch):
    """The app and a job converting the same GGUF at once: one converts, the other reuses its result."""
    import threading

    from studio import models

    monkeypatch.setenv("STUDIO_WORKSPACE", str(tmp_path))
    conversions = []

    def slow_convert(gguf_path, folder):
        conversions.append(folder)
        time.sleep(0.5)
        folder.mkdir(parents=True)
        (folder / "config.json").write_text("{}")

    monkeypatch.setattr(models, "_convert_gguf", slow_convert)
    results = []
    threads = [threading.Thread(target=lambda: results.append(models._cached_gguf(tmp_path / "m.gguf", "m")))
               for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(conversions) == 1 and results[0] == results[1]


def test_loads_in_two_threads_at_once_take_turns_and_each_gets_its_weights(tiny_model_dir, monkeypatch):
    """A chat and a comparison may load at the same moment; transformers' loading is not safe to overlap."""
    import threading
    import time

    import transformers

    from studio import models

    inside, overlaps = [0], []
    original = transformers.AutoModelForCausalLM.from_pretrained

    def slow_load(*args, **kwargs):
        inside[0] += 1
        overlaps.append(inside[0])
        time.sleep(0.2)
        try:
            return original(*args, **kwargs)
        finally:
            inside[0] -= 1

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", slow_load)
    loaded = []
    threads = [threading.Thread(target=lambda: loaded.append(models.load_model(str(tiny_model_dir))[0]))
               for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(loaded) == 3 and max(overlaps) == 1
    for model in loaded:
        assert not any(parameter.is_meta for parameter in model.parameters())
        assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
