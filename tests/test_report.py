"""Reports: one self-contained HTML file per run or comparison, loading nothing from anywhere, every user string
escaped, holding the figures the run's own files hold, and saying what was not measured."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from studio import compare, experiments, report, runs
from studio.config import RunConfig
from studio.workspace import append_jsonl, exports_dir
from tests.conftest import job_config, write_jsonl

HOSTILE_INPUT = "<script>alert('row')</script> great food"
HOSTILE_PROBE = '<img src="http://example.com/x.png"> classify the review as positive or negative'
ROWS = [{"instruction": "classify the review as positive or negative", "input": HOSTILE_INPUT, "output": "positive"}] + [
    {"instruction": "classify the review as positive or negative", "input": text, "output": label}
    for text, label in [("great food and friendly staff", "positive"), ("terrible service and cold soup", "negative")] * 6]
RESOURCE_ATTRIBUTES = {"src", "href", "xlink:href", "action", "poster", "srcset", "data", "formaction", "background"}
LOADING_TAGS = {"script", "link", "img", "iframe", "object", "embed", "audio", "video", "source", "base", "meta-refresh"}


class Page(HTMLParser):
    """What a page holds: its tags with their attributes, its text, and its style sheets' text."""

    def __init__(self, text: str):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.styles: list[str] = []
        self._in_style = False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        self._in_style = False

    def handle_data(self, data):
        (self.styles if self._in_style else self.text).append(data)

    @property
    def words(self) -> str:
        return " ".join(self.text)


def assert_self_contained(path) -> Page:
    text = path.read_text(encoding="utf-8")
    page = Page(text)
    assert not {tag for tag, _ in page.tags} & LOADING_TAGS
    for tag, attributes in page.tags:
        for name, value in attributes.items():
            assert name not in RESOURCE_ATTRIBUTES or str(value).startswith("#"), (tag, name, value)
            assert not name.startswith("on"), (tag, name)
            assert "url(" not in str(value or "")
    styles = " ".join(page.styles) + " ".join(str(attrs.get("style", "")) for _, attrs in page.tags)
    assert "url(" not in styles and "@import" not in styles and "@font-face" not in styles
    return page


@pytest.fixture(scope="module")
def reported(tmp_path_factory, tiny_model_dir):
    """A workspace with two finished tiny runs (lora "rep", ia3 "rep-ia3") evaluated on their validation rows after
    training, one with a hostile row and probe prompt; (workspace, run folders)."""
    from studio.training import run_training

    root = tmp_path_factory.mktemp("report-workspace")
    dataset = write_jsonl(tmp_path_factory.mktemp("report-data") / "reviews.jsonl", ROWS)
    folders = [root / "runs" / "rep", root / "runs" / "rep-ia3"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STUDIO_WORKSPACE", str(root))
        for folder, method in zip(folders, ("lora", "ia3")):
            config = job_config(tiny_model_dir, dataset, folder, method=method, max_steps=4, eval_steps=2,
                                heldout="validation", heldout_rows=3, probe_prompts=[HOSTILE_PROBE])
            assert run_training(config)["status"] == "finished"
    return root, folders


@pytest.fixture
def report_runs(reported, monkeypatch):
    root, folders = reported
    monkeypatch.setenv("STUDIO_WORKSPACE", str(root))
    return folders


def test_a_run_report_is_one_file_holding_the_runs_own_figures_and_loading_nothing(report_runs):
    run_dir = report_runs[0]
    path = report.run_report("rep")
    assert path.parent == exports_dir() and path.name == "report-rep-en.html"
    assert [item.name for item in exports_dir().iterdir() if "rep" in item.name] == [path.name]
    page = assert_self_contained(path)
    summary, heldout = runs.read_summary(run_dir), compare.stored_heldout(run_dir)
    metric = heldout["headline"]
    for value in (summary["train_loss"], summary["eval_loss"], heldout["base"][metric], heldout["tuned"][metric]):
        assert f"{value:.4f}" in page.words
    assert f"{summary['peak_memory_mb']:,.1f} MB" in page.words and f"{summary['trained_tokens']:,}" in page.words
    assert "reviews.jsonl" in page.words and "classify the review as positive or negative" in page.words
    assert sum(1 for tag, _ in page.tags if tag == "svg") >= 1 and "<details>" in path.read_text(encoding="utf-8")
    # The user's strings come back as text, never as markup.
    raw = path.read_text(encoding="utf-8")
    assert HOSTILE_INPUT.split(" great")[0] not in raw and "&lt;script&gt;" in raw
    assert '<img src="http' not in raw and HOSTILE_PROBE in page.words
    # What was not measured says so, and how to measure it.
    assert "no blind votes yet" in page.words and "run the general-knowledge check in the Compare tab" in page.words


def test_votes_and_the_knowledge_check_appear_once_there_are_some_and_chinese_reads_chinese(report_runs):
    run_dir = report_runs[0]
    for winner in ("tuned", "tuned", "base", "tie"):
        append_jsonl(run_dir / runs.VOTES, {"winner": winner})
    check = compare.general_check("rep", max_new_tokens=2, prompts=compare.GENERAL_PROMPTS[:2])
    compare.save_general_check(check)
    page = assert_self_contained(report.run_report("rep", "zh"))
    assert "训练报告：rep" in page.words and "在 4 次盲评中，微调模型胜 2 次，基础模型胜 1 次，平局 1 次。" in page.words
    assert f"漂移 {check['drift']:.4f}" in page.words and "训练曲线" in page.words
    with pytest.raises(ValueError, match="Language 'fr'"):
        report.run_report("rep", "fr")
    with pytest.raises(ValueError, match="No run 'nope'"):
        report.run_report("nope")


def test_a_comparison_report_overlays_the_curves_with_the_table_and_the_reading(report_runs, tiny_model_dir,
                                                                                tiny_sft_file):
    path = report.experiment_report(runs=["rep", "rep-ia3"])
    page = assert_self_contained(path)
    rows = experiments.comparison_rows(report_runs)
    assert [row["label"] for row in rows] == ["lora", "ia3"]
    for row in rows:
        for column in ("heldout_base", "heldout_tuned", "eval_loss"):
            assert f"{row[column]:.4f}" in page.words
        assert f"{row['peak_memory_mb']:,.1f}" in page.words and f"{row['saved_mb']:.3f}" in page.words
    for sentence in experiments.reading(rows, "en"):
        assert sentence in page.words
    assert sum(1 for tag, _ in page.tags if tag == "svg") == 2 and "ia3" in page.words
    experiments.queue_experiment("later", str(tiny_sft_file), "cpu-lora", "method", ["lora", "ia3"],
                                 {"base_model": str(tiny_model_dir), "validation_split": 0.25})
    page = assert_self_contained(report.experiment_report("later"))
    assert "Still queued: lora, ia3." in page.words and "later-lora" in page.words
    assert report.experiment_report("later", language="zh").name == "experiment-later-zh.html"
    waiting = assert_self_contained(report.run_report("later-ia3"))
    assert "queued" in waiting.words and "Not measured yet: the run has not finished." in waiting.words
    assert "Not measured: the run logged no step yet." in waiting.words
    with pytest.raises(ValueError, match="Name an experiment"):
        report.experiment_report()


def test_a_preference_run_gets_its_reward_charts_and_a_missing_file_is_said_not_hidden(workspace):
    run_dir = workspace / "runs" / "pairs-run"
    run_dir.mkdir(parents=True)
    runs.write_config(run_dir, RunConfig(stage="dpo", dataset=str(workspace / "gone.jsonl")))
    for step in (1, 2):
        append_jsonl(run_dir / runs.EVENTS, {"step": step, "loss": 0.7 - step / 10, "preference_accuracy": step / 4})
    append_jsonl(run_dir / runs.EVENTS, {"step": 2, "eval_loss": 0.6, "preference_accuracy": 0.75})
    runs.write_summary(run_dir, {"status": "finished", "train_loss": 0.5, "eval_loss": 0.6, "wall_seconds": 3.0})
    page = assert_self_contained(report.run_report("pairs-run"))
    assert sum(1 for tag, _ in page.tags if tag == "svg") == 2 and "preference accuracy" in page.words
    assert "The dataset file can no longer be read" in page.words and "Not measured yet" in page.words
    assert "not measured (runs trained before the studio kept it)" in page.words
