"""Slow: the default preset learns a small dataset. cpu-lora's auto passes (studio/training/plan.py) teach the embedded
model a new name from LLaMA-Factory's 91-row identity set, asked greedily
with questions that are in neither file, in English and Chinese. `-s` prints the answers and the numbers."""

from __future__ import annotations

import json
import time

import pytest

from studio import data, table
from studio.config import load_config
from tests.conftest import FIXTURES

pytestmark = pytest.mark.slow
NAME, AUTHOR = "Orion", "Lumen Labs"
# The project's own identity sample is trained the same way, through the browser, by tests/ui/test_browser.py's
# name demo; here the data are LLaMA-Factory's, which this project did not write.
SOURCES = {"llamafactory": FIXTURES / "identity.json"}
HELD_OUT = (
    "What name do you go by?", "Could you tell me who you are?", "Please state your name.", "Who am I speaking with?",
    "What do people call you?", "May I know your name?",
    "请问你怎么称呼？", "你的名字叫什么？", "能告诉我你是谁吗？", "请说出你的名字。",
)
ANSWER_TOKENS = 32


def named_copy(source, folder):
    """The identity file with its placeholders replaced, as the Dataset tab's find and replace does."""
    rows = data.load_dataset(source).rows
    rows, _ = table.replace_text(rows, "{{name}}", NAME)
    rows, _ = table.replace_text(rows, "{{author}}", AUTHOR)
    return data.write_jsonl(folder / f"{source.stem}-{NAME.lower()}.jsonl", rows)


def name_answers(base, run_dir=None) -> list[str]:
    from studio.generate import generate_batch, load_for_chat

    model, tokenizer = load_for_chat(base, run_dir)
    return generate_batch(model, tokenizer, [[{"role": "user", "content": question}] for question in HELD_OUT],
                          ANSWER_TOKENS)


def hit_rate(answers: list[str]) -> float:
    return sum(NAME.lower() in answer.lower() for answer in answers) / len(answers)


@pytest.fixture(scope="module")
def base_answers(shared_workspace):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STUDIO_WORKSPACE", str(shared_workspace))
        return name_answers("embedded")


@pytest.fixture(scope="module", params=sorted(SOURCES))
def tuned(request, shared_workspace, tmp_path_factory):
    """One cpu-lora run per identity file, shared by the tests: (source, plan line, summary, answers)."""
    from studio.training.plan import plan_run, describe
    from studio.training import run_training

    folder = tmp_path_factory.mktemp(f"identity-{request.param}")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STUDIO_WORKSPACE", str(shared_workspace))
        config = load_config("cpu-lora", {"dataset": str(named_copy(SOURCES[request.param], folder)),
                                          "output_dir": str(folder / "run")})
        plan = plan_run(config)
        started = time.time()
        summary = run_training(config)
        seconds = time.time() - started
        answers = name_answers(None, folder / "run")
    print(f"\n{request.param}: {describe(plan)}; trained {summary['total_steps']} steps, {summary['trained_tokens']} "
          f"tokens in {seconds:.0f} s; {hit_rate(answers):.0%} name the new name")
    for question, answer in zip(HELD_OUT, answers):
        print(f"  {question} -> {answer[:80]}")
    return request.param, plan, summary, answers


def test_the_questions_are_not_in_the_training_files():
    for source in SOURCES.values():
        prompts = {row["instruction"].strip() for row in data.load_dataset(source).rows}
        assert not prompts & set(HELD_OUT), source


def test_the_base_model_does_not_know_the_name(base_answers):
    print(json.dumps(base_answers, ensure_ascii=False, indent=1))
    assert hit_rate(base_answers) == 0


@pytest.mark.long(410)
def test_the_default_preset_teaches_a_small_dataset_the_name(tuned):
    source, plan, summary, answers = tuned
    assert summary["status"] == "finished"
    # Several passes (one is too few to learn from a few dozen rows), as the plan said before the run.
    assert summary["total_steps"] == plan.total_steps and plan.passes >= 3 and plan.reason == "small"
    assert hit_rate(answers) >= 0.75, answers
