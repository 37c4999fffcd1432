"""`python -m studio experiment` and `python -m studio report`: a comparison queued, trained and read on the command
line (the tiny model), and the reports of a run, a comparison and runs picked by name."""

from __future__ import annotations

import pytest

from html.parser import HTMLParser

from studio.__main__ import main


class Text(HTMLParser):
    def __init__(self):
        super().__init__()
        self.parts: list[str] = []

    def handle_data(self, data):
        self.parts.append(data)


def page_text(path: str) -> str:
    parser = Text()
    parser.feed(open(path, encoding="utf-8").read())
    return " ".join(parser.parts)


def test_an_experiment_needs_methods_or_one_setting_with_values(workspace, tiny_sft_file, capsys):
    assert main(["experiment", "x", "--dataset", str(tiny_sft_file)]) == 1
    assert main(["experiment", "x", "--dataset", str(tiny_sft_file), "--methods", "lora", "--vary", "lora_rank"]) == 1
    assert capsys.readouterr().err.count("Give --methods, or --vary SETTING with --values.") == 2
    assert main(["experiment", "x", "--dataset", str(tiny_sft_file), "--methods", "lora,nonsense"]) == 1
    assert "nonsense" in capsys.readouterr().err
    assert not (workspace / "runs" / "x-lora").exists() and not (workspace / "experiments" / "x.json").exists()


def test_an_experiment_opens_the_users_own_model_named_on_the_command_line(workspace, tiny_model_dir, tiny_sft_file,
                                                                          capsys, monkeypatch):
    """A model folder (or .gguf file) named relative to where the command runs, outside every folder the app
    may open: the command line is the user's own, so the runs are queued with its absolute path."""
    from studio.access import ALLOW_PATHS_ENV

    monkeypatch.delenv(ALLOW_PATHS_ENV, raising=False)
    monkeypatch.chdir(tiny_model_dir.parent)
    assert main(["experiment", "own", "--dataset", str(tiny_sft_file), "--methods", "lora,ia3",
                 f"--set=base_model={tiny_model_dir.name}"]) == 0, capsys.readouterr().err
    assert "own-lora, own-ia3" in capsys.readouterr().out.splitlines()[0]
    for run in ("own-lora", "own-ia3"):
        config = (workspace / "runs" / run / "config.yaml").read_text()
        assert f"base_model: {tiny_model_dir.resolve()}" in config, config


@pytest.mark.slow  # starts training jobs or servers as processes of their own
def test_an_experiment_trains_on_the_command_line_and_its_numbers_reach_the_table_and_the_reports(
        workspace, tiny_model_dir, tiny_sft_file, capsys, monkeypatch):
    from studio.experiments import comparison_rows

    monkeypatch.chdir(tiny_sft_file.parent)  # the data named relative to here
    settings = [f"base_model={tiny_model_dir}", "max_steps=2", "batch_size=2", "eval_steps=0", "validation_split=0",
                "probe_max_new_tokens=2"]
    code = main(["experiment", "tiny", "--dataset", tiny_sft_file.name, "--methods", "lora,ia3", "--heldout",
                 tiny_sft_file.name, "--heldout-rows", "2", *(f"--set={item}" for item in settings), "--run"])
    out = capsys.readouterr().out.splitlines()
    assert code == 0, out
    assert out[0] == "queued 2 runs, 2 steps each: tiny-lora, tiny-ia3"
    header = out.index(next(line for line in out if line.startswith("label | status")))
    table = [line.split(" | ") for line in out[header + 1:header + 3]]
    rows = comparison_rows(["tiny-lora", "tiny-ia3"])
    assert [line[:2] for line in table] == [["lora", "finished"], ["ia3", "finished"]]
    assert [int(line[2]) for line in table] == [row["trainable_parameters"] for row in rows]
    assert "exact_match before | exact_match after" in out[header]
    assert any(line.startswith("- ") for line in out[header + 3:])

    assert main(["report", "tiny-lora"]) == 0
    run_page = capsys.readouterr().out.strip()
    assert run_page.endswith("report-tiny-lora-en.html") and "tiny-lora" in page_text(run_page)
    assert main(["report", "--experiment", "tiny", "--language", "zh"]) == 0
    assert "tiny-ia3" in page_text(capsys.readouterr().out.strip())
    assert main(["report", "--runs", "tiny-lora,tiny-ia3"]) == 0
    assert capsys.readouterr().out.strip().endswith(".html")
    assert main(["report"]) == 1 and main(["report", "tiny-lora", "--experiment", "tiny"]) == 1
    assert main(["report", "../../etc"]) == 1
    assert "Name one run" in capsys.readouterr().err
