"""Blind votes: what a vote records, the tally with old lines, and a run's votes made into a preference dataset
(which a DPO run of the tiny model trains on) or KTO feedback rows; the refusals."""

from __future__ import annotations

import json

import pytest

from studio import votes
from studio.data import load_dataset
from studio.runs import base_model
from studio.sampling import generation_settings
from studio.shapes import SHAPES, detect_shape, validate
from studio.workspace import datasets_dir
from tests.conftest import pair_config

SAMPLED = generation_settings(0.7, 0.9, 50, 12, 1.0, 5)
QUESTION = [{"role": "system", "content": "Answer in one word."}, {"role": "user", "content": "the cat sat"}]
# (question, base's answer, tuned's answer): distinct answers to learn a preference from.
ANSWERED = [("the cat sat", "on the mat", "the dog ate the bone"), ("what is the colour of the sky", "blue", "the sky"),
            ("hello how are you", "i am fine thank you", "hello"), ("classify the review", "positive", "negative")]


def voted(run: str, choice: str, question: str = "the cat sat", base: str = "on the mat",
          tuned: str = "the dog ate the bone") -> votes.BlindPair:
    """A blind pair on `run` answered with these texts, voted `choice`."""
    messages = [QUESTION[0], {"role": "user", "content": question}]
    pair = votes.new_pair(run, messages, SAMPLED, blind=True).answered(base, tuned)
    votes.record_vote(pair, choice)
    return pair


def test_a_vote_records_the_prompt_both_answers_which_side_gave_which_the_settings_and_the_winner(own_run):
    pair = votes.new_pair("tiny-lora", QUESTION, SAMPLED, blind=True)
    assert pair.blind and set(pair.order) == {"base", "tuned"} and pair.run == "tiny-lora"
    assert pair.settings.seed != SAMPLED.seed and pair.settings.temperature == 0.7  # blind mode draws its own seed
    pair = pair.answered("on the mat", "the dog")
    assert pair.shown() == tuple({"base": "on the mat", "tuned": "the dog"}[side] for side in pair.order)
    tally = votes.record_vote(pair, "A")
    assert tally == {**dict.fromkeys(("base", "tuned", "tie"), 0), pair.order[0]: 1, "votes": 1}
    line = json.loads((own_run / votes.VOTES_FILE).read_text(encoding="utf-8").splitlines()[-1])
    assert line["choice"] == "A" and line["winner"] == pair.order[0] and line["order"] == list(pair.order)
    assert line["prompt"] == "the cat sat" and line["messages"] == QUESTION
    assert line["answers"] == {"base": "on the mat", "tuned": "the dog"}
    assert line["models"] == {"base": base_model(own_run), "tuned": "tiny-lora"}
    assert line["settings"] == {"temperature": 0.7, "top_p": 0.9, "top_k": 50, "max_new_tokens": 12,
                                "repetition_penalty": 1.0, "seed": pair.settings.seed}
    assert line["time"] > 0
    assert votes.record_vote(pair, "tie")["tie"] == 1
    # An open compare keeps its order and seed, and is no pair to vote on.
    opened = votes.new_pair("tiny-lora", QUESTION, SAMPLED, blind=False)
    assert opened.order == ("base", "tuned") and opened.settings == SAMPLED
    for refused in (None, opened, ("tuned", "base")):
        with pytest.raises(ValueError, match="blind mode first"):
            votes.record_vote(refused, "A")
    with pytest.raises(ValueError, match="A, B or tie"):
        votes.record_vote(pair, "C")
    with pytest.raises(ValueError, match="finished run"):
        votes.new_pair("", QUESTION, SAMPLED, blind=True)


def test_old_votes_count_in_the_tally_and_are_left_out_of_the_data_counted(own_run):
    old = [{"time": 1.0, "winner": "tuned", "prompt": "hi", "temperature": 0.7, "seed": 3},
           {"time": 2.0, "winner": "base", "prompt": "hi", "temperature": 0.7, "seed": 4}]
    # Old lines, a line that is no vote, and a torn line (a writer killed mid-write).
    (own_run / votes.VOTES_FILE).write_text("".join(json.dumps(vote) + "\n" for vote in old)
                                            + '[1, 2]\n{"winner": "nobody"}\n{"time": 3, "win', encoding="utf-8")
    assert votes.vote_tally("tiny-lora") == {"base": 1, "tuned": 1, "tie": 0, "votes": 2}
    voted("tiny-lora", "B")
    voted("tiny-lora", "tie")
    assert votes.vote_tally("tiny-lora") == {**votes.vote_tally("tiny-lora"), "tie": 1, "votes": 4}
    made = votes.make_dataset("tiny-lora", "preference")
    assert made["rows"] == 1 and made["votes"] == 4 and made["left_out"] == {"tie": 1, "old": 2, "unusable": 0}


def test_votes_make_a_preference_dataset_that_a_dpo_run_of_the_tiny_model_trains_on(own_run, tiny_model_dir,
                                                                                     tmp_path):
    from studio.training import run_training

    winners = []
    for index, (question, base, tuned) in enumerate(ANSWERED * 2):
        pair = voted("tiny-lora", "AB"[index % 2], question, base, tuned)
        winners.append(pair.order[index % 2])
    voted("tiny-lora", "tie")
    voted("tiny-lora", "A", base="same answer", tuned="same answer ")  # nothing to prefer
    voted("tiny-lora", "B", base="", tuned="an answer")  # an empty answer
    made = votes.make_dataset("tiny-lora", "preference")
    assert made["name"] == "tiny-lora-votes-preference" and made["path"] == datasets_dir() / f"{made['name']}.jsonl"
    assert made["rows"] == 8 and made["votes"] == 11 and made["left_out"] == {"tie": 1, "old": 0, "unusable": 2}
    loaded = load_dataset(made["path"])
    assert loaded.shape == "preference" and len(loaded.rows) == 8
    for row, (question, base, tuned), winner in zip(loaded.rows, ANSWERED * 2, winners):
        answers = {"base": base, "tuned": tuned}
        assert row["prompt"] == [QUESTION[0], {"role": "user", "content": question}]
        assert row["chosen"] == answers[winner] and row["rejected"] == answers["tuned" if winner == "base" else "base"]
    # Made again: a new name, the first dataset as it was.
    again = votes.make_dataset("tiny-lora", "preference")
    assert again["name"] == "tiny-lora-votes-preference-2" and made["path"].read_text() == again["path"].read_text()
    summary = run_training(pair_config(tiny_model_dir, made["path"], tmp_path / "dpo-from-votes"))
    assert summary["status"] == "finished" and (tmp_path / "dpo-from-votes" / "adapter").is_dir()


def test_votes_make_feedback_rows_for_kto_a_row_per_answer_of_a_decided_vote(own_run):
    first = voted("tiny-lora", "A")
    voted("tiny-lora", "tie")
    rows, left_out = votes.vote_rows(votes.read_votes("tiny-lora"), "feedback")
    answers = {"base": "on the mat", "tuned": "the dog ate the bone"}
    loser = "tuned" if first.order[0] == "base" else "base"
    prompt = [QUESTION[0], {"role": "user", "content": "the cat sat"}]
    assert rows == [{"prompt": prompt, "completion": answers[first.order[0]], "label": True},
                    {"prompt": prompt, "completion": answers[loser], "label": False}]
    assert left_out == {"tie": 1, "old": 0, "unusable": 0}  # a tie says neither is better, not which is good
    made = votes.make_dataset("tiny-lora", "feedback", "")
    assert made["name"] == "tiny-lora-votes-kto" and made["rows"] == 2
    written = [json.loads(line) for line in made["path"].read_text(encoding="utf-8").splitlines()]
    assert written == rows
    if "feedback" in SHAPES:  # the KTO stage's shape: the rows pass its check
        assert detect_shape(written) == "feedback" and validate(written, "feedback") == []


def test_making_a_dataset_refuses_no_votes_a_taken_name_a_bad_name_and_kind(own_run):
    with pytest.raises(ValueError, match="No blind votes on tiny-lora yet"):
        votes.make_dataset("tiny-lora", "preference")
    voted("tiny-lora", "tie")
    with pytest.raises(ValueError, match="None of the 1 votes on tiny-lora makes a row: 1 ties"):
        votes.make_dataset("tiny-lora", "preference")
    voted("tiny-lora", "A")
    made = votes.make_dataset("tiny-lora", "preference", "team-votes")
    assert made["name"] == "team-votes" and made["rows"] == 1
    before = made["path"].read_bytes()
    with pytest.raises(ValueError, match="'team-votes' is already in the workspace; .+example 'team-votes-2'"):
        votes.make_dataset("tiny-lora", "feedback", "team-votes.jsonl")
    assert made["path"].read_bytes() == before
    for bad in ("../escape", "sub/name", ".hidden", "..", "a\0b"):
        with pytest.raises(ValueError, match="not a plain dataset name"):
            votes.make_dataset("tiny-lora", "preference", bad)
    with pytest.raises(ValueError, match="preference or feedback, not 'sft'"):
        votes.make_dataset("tiny-lora", "sft")
    with pytest.raises(ValueError, match="not a plain run name"):
        votes.make_dataset("../../etc", "preference")
    with pytest.raises(ValueError, match="No run 'elsewhere'"):
        votes.make_dataset("elsewhere", "preference")
    assert sorted(path.name for path in datasets_dir().iterdir()) == ["team-votes.jsonl"]
