"""GRPO's rewards: each rule against the reference answer, the length curve, their sum, the reward-model run's score."""

from __future__ import annotations

import math

import pytest

from studio import rewards
from studio.config import RunConfig

PROMPTS = [[{"role": "user", "content": "Classify this review."}]] * 4


def test_exact_rule_compares_words_after_normalising_case_spaces_and_punctuation():
    exact = rewards.RuleReward("exact")
    answers = ["Positive.", "  positive\n", "positive, I think", "negative"]
    assert exact(PROMPTS, answers, ["positive"] * 4) == [1.0, 1.0, 0.0, 0.0]
    # TRL's conversational answers, and multi-word references spaced differently.
    assert exact(PROMPTS[:1], [[{"role": "assistant", "content": "The  Sky is BLUE!"}]], ["the sky is blue"]) == [1.0]
    assert exact(PROMPTS[:1], ["天空是蓝色的。"], ["天空是蓝色的"]) == [1.0]


def test_contains_rule_finds_the_reference_words_together_and_in_order():
    contains = rewards.RuleReward("contains")
    answers = ["I think it is Positive overall.", "positively great", "blue is the sky", "the sky is blue, yes"]
    assert contains(PROMPTS, answers, ["positive", "positive", "the sky is blue", "the sky is blue"]) == [1.0, 0.0, 0.0, 1.0]
    assert contains(PROMPTS[:1], ["anything"], [""]) == [0.0]  # no reference: nothing to contain


def test_regex_rule_searches_the_pattern_anywhere_in_the_answer():
    regex = rewards.RuleReward("regex", r"^(positive|negative|mixed)$")
    assert regex(PROMPTS[:3], ["mixed", "Mixed", "it is mixed"], [""] * 3) == [1.0, 0.0, 0.0]
    assert rewards.RuleReward("regex", r"\d+ km")(PROMPTS[:2], ["about 42 km away", "far"]) == [1.0, 0.0]
    with pytest.raises(ValueError, match="reward_pattern"):
        rewards.RuleReward("regex")
    with pytest.raises(ValueError, match="not one of"):
        rewards.RuleReward("fuzzy")


def test_length_reward_is_one_at_the_target_and_falls_smoothly_on_both_sides():
    assert rewards.length_score(10, 10) == 1.0
    curve = [rewards.length_score(count, 10) for count in range(0, 31)]
    assert all(earlier < later for earlier, later in zip(curve[:10], curve[1:11]))  # rising to the target
    assert all(earlier > later for earlier, later in zip(curve[10:], curve[11:]))  # falling after it
    assert rewards.length_score(5, 10) == pytest.approx(math.exp(-0.5))  # a width (target / 2) away
    assert rewards.length_score(15, 10) == pytest.approx(rewards.length_score(5, 10))
    assert rewards.length_score(25, 10) < 0.02
    assert rewards.length_score(2, 1) == pytest.approx(math.exp(-0.125))  # short targets: a width of 2 words
    length = rewards.LengthReward(3)
    assert length(PROMPTS[:2], ["one two three.", "one"]) == [1.0, pytest.approx(math.exp(-0.5))]


def test_several_rewards_add_up():
    config = RunConfig(dataset="x.jsonl", stage="grpo", reward_rule="exact", reward_length=1)
    functions = rewards.reward_functions(config)
    assert [function.__name__ for function in functions] == ["rule", "length"]
    totals = rewards.total_reward(functions, PROMPTS[:3], ["positive", "negative", "it is positive"], ["positive"] * 3)
    assert totals == [2.0, 1.0, pytest.approx(math.exp(-0.5))]
    with pytest.raises(ValueError, match="GRPO learns from rewards"):
        rewards.reward_functions(RunConfig(dataset="x.jsonl", stage="grpo"))


def test_reward_model_run_scores_each_answer_to_its_prompt(monkeypatch, workspace):
    """The reward-model run's scores (studio.scoring, faked here) through a sigmoid, one per answer."""
    import sys
    import types

    run = workspace / "runs" / "tiny-rm"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text("stage: rm\n")
    calls, checked = [], []

    def score_answers(run, prompts, answers, batch_size=8):
        calls.append((run, prompts, answers, batch_size))
        return [2.0, 0.0, -1000.0][:len(answers)]

    monkeypatch.setitem(sys.modules, "studio.scoring", types.SimpleNamespace(
        score_answers=score_answers, reward_weights=checked.append))
    config = RunConfig(dataset="x.jsonl", stage="grpo", reward_model="tiny-rm", reward_rule="contains")
    functions = rewards.reward_functions(config)
    assert [function.__name__ for function in functions] == ["reward_model", "rule"]
    assert checked == [run.resolve()]  # the run's name found in the workspace, and checked before training starts
    prompts = ["What colour is the sky?", [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
               "Hello"]
    answers = [[{"role": "assistant", "content": "blue"}], "hello there", "x"]
    scores = functions[0](prompts, answers, reference=["blue", "hello", "y"], trainer_state=None)
    assert scores == [pytest.approx(1 / (1 + math.exp(-2.0))), 0.5, pytest.approx(0.0, abs=1e-20)]
    sent_run, sent_prompts, sent_answers, _ = calls[0]
    assert sent_run == run.resolve() and sent_answers == ["blue", "hello there", "x"]
    assert sent_prompts[0] == [{"role": "user", "content": "What colour is the sky?"}] and sent_prompts[1] == prompts[1]
    totals = rewards.total_reward(functions, prompts, answers, ["blue", "hello", "y"])
    assert totals == [pytest.approx(1 / (1 + math.exp(-2.0)) + 1.0), 1.5, pytest.approx(0.0, abs=1e-20)]
    assert rewards.reward_run(str(run)) == run.resolve()
    with pytest.raises(ValueError, match="reward_model: no run 'elsewhere'"):
        rewards.reward_run("elsewhere")
