"""Compare: tables and reports, drift, reward scores in the grid and batch compare; and on the tiny run, the
batch numbers equal `python -m studio eval` on the same rows. (Blind votes: tests/test_votes.py.)"""

from __future__ import annotations

import csv
import io
import json

import pytest

from studio import compare
from studio.__main__ import main
from studio.sampling import generation_settings

GREEDY = generation_settings(0, 0.9, 50, 4, 1.0, 0)


def fake_result(references: list[str], base: list[str], tuned: list[str]) -> dict:
    from studio.evaluate import exact_match
    from studio.metrics import ANSWER_METRICS, similarity

    def side(predictions, perplexity):
        details = [{"prompt": f"q{index}", "reference": reference, "prediction": prediction,
                    "exact_match": exact_match(prediction, reference), **similarity(prediction, reference)}
                   for index, (reference, prediction) in enumerate(zip(references, predictions))]
        totals = {key: sum(row[key] for row in details) / len(details) for key in ANSWER_METRICS}
        return {"rows": len(details), **totals, "perplexity": perplexity, "max_new_tokens": 8, "details": details}
    return {"run": "demo", "dataset": "test", "base": side(base, 3.0), "tuned": side(tuned, 1.5)}


def test_totals_say_which_way_is_better_and_the_headline_fits_the_answers():
    result = fake_result(["positive", "negative"], ["Positive", "mixed"], ["positive", "negative"])
    rows = {row["metric"]: row for row in compare.totals(result)}
    assert rows["exact_match"]["base"] == 0.5 and rows["exact_match"]["tuned"] == 1.0 and rows["exact_match"]["change"] == 0.5
    assert rows["perplexity"]["change"] == 1.5  # lower perplexity is better, so the change is positive
    assert compare.headline_metric(result) == "exact_match"
    long = fake_result(["the soup was cold and the staff slow"], ["cold soup"], ["the soup was cold"])
    assert compare.headline_metric(long) == "rouge_l"


def test_csv_and_markdown_hold_every_row_with_awkward_text_intact():
    result = fake_result(["a | b\nc"], ["x"], ["a | b\nc"])
    table = list(csv.DictReader(io.StringIO(compare.to_csv(compare.comparison_rows(result)))))
    assert table[0]["tuned"] == "a | b\nc" and table[0]["tuned_exact_match"] == "1.0"
    assert list(table[0]) == list(compare.ROW_COLUMNS)
    markdown = compare.to_markdown(result)
    assert "a \\| b<br>c" in markdown and "| exact_match | 0.0 | 1.0 | 1.0 |" in markdown


def test_every_batch_compare_and_knowledge_check_is_stored_as_json_beside_its_tables(own_run):
    assert compare.stored_results(own_run) == [] and compare.stored_heldout(own_run) is None
    assert compare.stored_general_check(own_run) is None
    result = {**fake_result(["positive", "negative"], ["Positive", "mixed"], ["positive", "negative"]),
              "run": "tiny-lora"}
    csv_path, markdown_path = compare.write_report(result)
    assert (csv_path.name, markdown_path.name) == ("test-2-rows.csv", "test-2-rows.md")
    [stored] = compare.stored_results(own_run)
    assert stored["file"] == "test-2-rows.json" and stored["headline"] == "exact_match"
    assert (stored["base"], stored["tuned"], stored["dataset"]) == (result["base"], result["tuned"], "test")
    compare.write_report(result, own_run, compare.HELDOUT)
    assert compare.stored_heldout(own_run)["tuned"]["exact_match"] == 1.0
    assert sorted(item["file"] for item in compare.stored_results(own_run)) == ["heldout.json", "test-2-rows.json"]
    check = {"run": "tiny-lora", "rows": [{"prompt": "2+2?", "base": "4", "tuned": "four", "similarity": 0.0}],
             "drift": 1.0, "progress": (2, 2)}
    assert compare.save_general_check(check) == own_run / compare.REPORTS / compare.GENERAL_FILE
    stored_check = compare.stored_general_check(own_run)
    assert stored_check["drift"] == 1.0 and stored_check["rows"] == check["rows"]
    assert len(compare.stored_results(own_run)) == 2  # the check is not a batch result


def test_drift_is_one_minus_the_mean_similarity():
    similarities, moved = compare.drift(["Paris is the capital.", "4"], ["Paris is the capital.", "seven"])
    assert similarities == [1.0, 0.0] and moved == 0.5


def test_grid_temperatures_keep_order_and_refuse_out_of_range():
    assert compare.grid_temperatures([0, 0.7, None, 0.7, 1.2]) == [0.0, 0.7, 1.2]
    with pytest.raises(ValueError, match="at least one"):
        compare.grid_temperatures([None, None])
    with pytest.raises(ValueError, match="0 \\(greedy\\) to 2"):
        compare.grid_temperatures([3])


def test_batch_compare_equals_the_eval_command_on_the_same_rows(trained_run, tiny_model_dir, tiny_sft_file, capsys):
    result = compare.batch_compare("tiny-lora", str(tiny_sft_file), limit=5)
    for side, arguments in (("tuned", ["--adapter", str(trained_run)]), ("base", ["--base", str(tiny_model_dir)])):
        assert main(["eval", *arguments, "--dataset", str(tiny_sft_file), "--limit", "5", "--details"]) == 0
        expected = json.loads(capsys.readouterr().out)
        expected.pop("model")
        assert result[side] == expected
    csv_path, markdown_path = compare.write_report(result)
    assert csv_path.parent == trained_run / compare.REPORTS
    assert len(list(csv.DictReader(csv_path.open()))) == 5 and "| perplexity |" in markdown_path.read_text()
    stored = json.loads(csv_path.with_suffix(".json").read_text(encoding="utf-8"))
    assert stored["tuned"] == result["tuned"] and stored["base"] == result["base"] and stored["kind"] == "batch"


def test_batch_compare_on_the_runs_own_validation_rows(trained_run):
    result = compare.batch_compare("tiny-lora", compare.VALIDATION, max_new_tokens=3)
    assert result["dataset"] == "tiny-lora-validation" and result["base"]["rows"] == 3 == result["tuned"]["rows"]
    assert result["base"]["max_new_tokens"] == 3
    with pytest.raises(ValueError, match="Pick a dataset"):
        compare.batch_compare("tiny-lora", "")


def test_grid_and_general_check_answer_with_both_models(trained_run):
    messages = [{"role": "user", "content": "the cat sat"}]
    frames = list(compare.stream_grid("tiny-lora", messages, GREEDY, [0, 1.0]))
    assert [row[0] for row in frames[-1]] == [0.0, 1.0]
    assert all(isinstance(text, str) for row in frames[-1] for text in row[1:])
    checked = compare.general_check("tiny-lora", max_new_tokens=4)
    assert len(checked["rows"]) == len(compare.GENERAL_PROMPTS) and 0 <= checked["drift"] <= 1
    assert {"prompt", "base", "tuned", "similarity"} == set(checked["rows"][0])


def test_batch_compare_streams_each_batch_of_answers_as_it_comes(trained_run, tiny_sft_file):
    steps = list(compare.stream_batch_compare("tiny-lora", str(tiny_sft_file), limit=5, batch_size=2))
    # Base then tuned for each batch of two rows, then the scores.
    assert [step["progress"] for step in steps] == [(2, 10), (4, 10), (6, 10), (8, 10), (9, 10), (10, 10), (10, 10)]
    first = compare.comparison_rows(steps[0])
    assert len(first) == 2 and all(row["tuned"] is None and row["tuned_bleu_4"] is None for row in first)
    assert all(isinstance(row["base"], str) and row["base_bleu_4"] is not None for row in first)
    assert "perplexity" not in steps[-2]["tuned"] and steps[-1]["tuned"]["rows"] == 5
    assert [row["base"] for row in compare.comparison_rows(steps[-1])][:2] == [row["base"] for row in first]
    assert steps[-1]["tuned"]["details"] == steps[-2]["tuned"]["details"]


def test_general_check_streams_the_base_answers_before_the_tuned(trained_run):
    base_first, checked = compare.stream_general_check("tiny-lora", max_new_tokens=4)
    assert base_first["progress"] == (8, 16) and checked["progress"] == (16, 16) and base_first["drift"] is None
    assert all(row["tuned"] == "" and row["similarity"] is None for row in base_first["rows"])
    assert [row["base"] for row in base_first["rows"]] == [row["base"] for row in checked["rows"]]
    assert checked == compare.general_check("tiny-lora", max_new_tokens=4)
    with pytest.raises(ValueError, match="Pick a finished run to compare with its base model"):
        compare.general_check("", max_new_tokens=4)


def test_a_reward_model_scores_the_grid_and_batch_compare_answers(own_run, fake_reward_run, tiny_sft_file):
    judge, calls = fake_reward_run
    messages = [{"role": "user", "content": "the cat sat"}]
    rows = compare.score_grid(judge, messages, [[0.0, "abc", "abcdef"], [0.7, "", "a"]])
    assert rows == [[0.0, "abc", "abcdef", 0.3, 0.6], [0.7, "", "a", 0.0, 0.1]]
    assert calls[-1][1] == [messages] * 4 and calls[-1][2] == ["abc", "", "abcdef", "a"]  # one batch for the grid
    steps = list(compare.stream_batch_compare("tiny-lora", str(tiny_sft_file), limit=3, max_new_tokens=4,
                                              batch_size=2, reward="judge"))
    # Base, tuned, then their scores, batch by batch; then the totals.
    assert [step["progress"] for step in steps] == [(2, 6), (4, 6), (4, 6), (5, 6), (6, 6), (6, 6), (6, 6)]
    assert "reward" not in steps[1]["tuned"]["details"][0] and steps[2]["tuned"]["details"][0]["reward"] is not None
    result = steps[-1]
    for side in compare.SIDES:
        scores = [round(len(row["prediction"]) / 10, 4) for row in result[side]["details"]]
        assert [row["reward"] for row in result[side]["details"]] == scores
        assert result[side]["reward"] == round(sum(scores) / len(scores), 4)
    assert [call[1][0][-1]["role"] for call in calls[1:]] == ["user", "user"]  # the prompts, up to the question
    table = compare.comparison_rows(result)
    assert list(table[0])[-2:] == ["base_reward", "tuned_reward"] and table[0]["tuned_reward"] is not None
    reward = compare.totals(result)[-1]
    assert reward["metric"] == "reward" and reward["change"] == round(result["tuned"]["reward"] - result["base"]["reward"], 4)
    assert "| reward |" in compare.to_markdown(result) and "base_reward" in compare.to_csv(table)
    # Without a reward model, no score columns and no scorer called.
    called = len(calls)
    plain = compare.batch_compare("tiny-lora", str(tiny_sft_file), limit=2, max_new_tokens=4)
    assert list(compare.comparison_rows(plain)[0]) == list(compare.ROW_COLUMNS) and len(calls) == called
    assert "reward" not in [row["metric"] for row in compare.totals(plain)]
    with pytest.raises(ValueError, match="'tiny-lora' is not a finished reward model run"):
        compare.batch_compare("tiny-lora", str(tiny_sft_file), limit=2, reward="tiny-lora")
