"""Export for download: the zip, the merged folder under exports/, and the loading code we show, run as shown."""

from __future__ import annotations

import contextlib
import io
import json
import zipfile

import pytest

from studio.export import loading_code, merged_export, zip_export
from studio.generate import GenerationSettings, generate_text, load_for_chat

QUESTION = [{"role": "user", "content": "Hello! Who are you?"}]
GREEDY = GenerationSettings(temperature=0, max_new_tokens=64)


def printed_by(code: str) -> str:
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        exec(compile(code, "<loading code>", "exec"), {})
    return output.getvalue().strip()


def test_zip_holds_the_adapter_and_the_code_loads_it_as_shown(trained_run, tiny_model_dir):
    archive, code = zip_export(trained_run)
    assert archive.parent.name == "exports" and archive.name == "tiny-lora-adapter.zip"
    with zipfile.ZipFile(archive) as opened:
        names = opened.namelist()
    assert "tiny-lora-adapter/adapter_config.json" in names and "tiny-lora-adapter/adapter_model.safetensors" in names
    assert "PeftModel.from_pretrained" in code and str(tiny_model_dir) in code
    tuned, tokenizer = load_for_chat(None, trained_run)
    assert printed_by(code) == generate_text(tuned, tokenizer, QUESTION, GREEDY)


def test_merged_folder_loads_with_plain_transformers_and_refuses_to_overwrite(trained_run):
    folder, code = merged_export(trained_run)
    assert folder.name == "tiny-lora-merged" and (folder / "config.json").exists()
    assert "peft" not in code
    tuned, tokenizer = load_for_chat(None, trained_run)
    assert printed_by(code) == generate_text(tuned, tokenizer, QUESTION, GREEDY)
    with pytest.raises(ValueError, match="not empty"):
        merged_export(trained_run)
    # A typed name is only a name: it cannot lead out of exports/.
    assert merged_export(trained_run, "../elsewhere")[0] == folder.with_name("elsewhere")


def test_prompt_methods_are_refused_with_the_reason(tmp_path, workspace):
    adapter = tmp_path / "prompt-run" / "adapter"
    adapter.mkdir(parents=True)
    (adapter / "adapter_config.json").write_text(json.dumps({"peft_type": "PROMPT_TUNING"}))
    with pytest.raises(ValueError, match="virtual tokens"):
        merged_export(tmp_path / "prompt-run")
    assert not any((workspace / "exports").iterdir())


def test_loading_code_for_an_adapter_names_the_base():
    code = loading_code("/runs/demo/adapter", "adapter", "org/model")
    assert "AutoModelForCausalLM.from_pretrained('org/model')" in code
    assert "PeftModel.from_pretrained(base, '/runs/demo/adapter')" in code
