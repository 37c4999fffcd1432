"""Which run may score Compare's answers (a finished run of stage rm), and its scores, with a stand-in for
studio.scoring."""

from __future__ import annotations

import sys

import pytest

from studio import reward_scores, runs


def test_only_a_finished_reward_model_run_scores(own_run, fake_reward_run):
    judge, calls = fake_reward_run
    assert reward_scores.reward_run("") is None and reward_scores.reward_run(None) is None
    assert reward_scores.reward_run("judge") == judge and reward_scores.reward_run(str(judge)) == judge
    with pytest.raises(ValueError, match="'tiny-lora' is not a finished reward model run"):
        reward_scores.reward_run("tiny-lora")
    for bad, message in (("../judge", "not a plain run name"), ("nowhere", "No run 'nowhere'")):
        with pytest.raises(ValueError, match=message):
            reward_scores.reward_run(bad)
    runs.write_summary(judge, {"status": "aborted"})
    assert not reward_scores.is_reward(judge)
    runs.write_summary(judge, {"status": "finished"})
    prompt = [{"role": "user", "content": "hi"}]
    assert reward_scores.scores(judge, [prompt, prompt], ["hello", "a much longer answer"]) == [0.5, 2.0]
    assert calls == [("judge", [prompt, prompt], ["hello", "a much longer answer"])]
    assert reward_scores.scores(judge, [], []) == [] and len(calls) == 1
    assert reward_scores.mean([0.5, 2.0]) == 1.25 and reward_scores.mean([]) == 0.0


def test_without_the_scoring_module_no_run_is_a_reward_model(own_run, fake_reward_run, monkeypatch):
    judge, _ = fake_reward_run
    monkeypatch.setitem(sys.modules, "studio.scoring", None)  # an import of it fails, as before the stage landed
    assert not reward_scores.is_reward(judge)
    with pytest.raises(ValueError, match="not a finished reward model run"):
        reward_scores.reward_run("judge")
