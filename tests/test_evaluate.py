"""Metrics: exact match; the drift's ROUGE-L on English and Chinese; the totals eval prints; perplexity on answer
tokens. BLEU-4 and ROUGE-1/2/L themselves: tests/test_metrics.py."""

from __future__ import annotations

import math

import pytest

from studio.evaluate import exact_match, perplexity, rouge_l, split_prompt, summarize
from studio.tokens import IGNORED_LABEL


def test_exact_match_ignores_case_space_and_punctuation():
    assert exact_match(" Positive. ", "positive") == 1.0
    assert exact_match("positive, I think", "positive") == 0.0


def test_rouge_l_of_the_knowledge_check():
    assert rouge_l("a dog", "the cat") == 0.0
    assert rouge_l("the cat sat on the mat", "the cat on the mat") == pytest.approx(2 * 1 * (5 / 6) / (1 + 5 / 6))
    assert rouge_l("", "") == 1.0


def test_chinese_is_compared_by_character():
    assert rouge_l("我是助手", "我是一个助手") == pytest.approx(2 * 1 * (4 / 6) / (1 + 4 / 6))
    assert exact_match("巴黎。", "巴黎") == 1.0


def test_totals_are_the_means_of_every_answer_metric_under_its_name():
    from studio.metrics import similarity

    details = [{"prompt": "q", "reference": reference, "prediction": prediction,
                "exact_match": exact_match(prediction, reference), **similarity(prediction, reference)}
               for prediction, reference in (("a cat", "a hat"), ("a hat", "a hat"))]
    result = summarize(details, 2.0, 8)
    assert (result["exact_match"], result["bleu_4"], result["rouge_1"], result["rouge_2"], result["rouge_l"]) == \
        (0.5, round((30.2138 + 100) / 2, 4), 75.0, 50.0, 75.0)
    assert result["rows"] == 2 and result["perplexity"] == 2.0 and result["details"] == details


def test_split_prompt_takes_the_last_answer_as_reference():
    prompt, reference = split_prompt({"instruction": "Say hi", "input": "", "output": "hi"}, "instruction")
    assert reference == "hi" and prompt[-1] == {"role": "user", "content": "Say hi"}


def test_perplexity_is_finite_and_above_one(tiny_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    rows = [{"instruction": "the sky", "input": "", "output": "is blue"}] * 3
    value = perplexity(model, tokenizer, rows, "instruction")
    assert math.isfinite(value) and value > 1


def full_logits_perplexity(model, tokenizer, rows) -> float:
    """Perplexity with every position projected onto the vocabulary, as a model's own loss computes it."""
    import torch
    from transformers import DataCollatorForSeq2Seq

    from studio import tokens

    examples, _ = tokens.tokenize_sft(rows, "instruction", tokenizer, 1024)
    batch = DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=IGNORED_LABEL)(examples)
    with torch.no_grad():
        return math.exp(float(model(**batch).loss))


def test_perplexity_projects_only_answer_positions_and_equals_the_models_own_loss(tiny_model_dir, monkeypatch):
    """Rows of different lengths in one padded batch: the answer positions alone reach the vocabulary projection
    (one row per answer token reaches the head), and the number is the model's own loss."""
    import peft
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from studio import tokens

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    rows = [{"instruction": "the sky", "input": "", "output": "is blue"},
            {"instruction": "what is the colour of the sky today", "input": "", "output": "blue and the dog ate"}]
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    lora = peft.get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_model_dir),
                               peft.LoraConfig(task_type="CAUSAL_LM", r=4, init_lora_weights=False))
    for model in (base, lora):
        expected = full_logits_perplexity(model, tokenizer, rows)
        projected = []
        head = model.get_output_embeddings()
        monkeypatch.setattr(head, "forward", lambda hidden, original=head.forward: projected.append(hidden.shape)
                            or original(hidden))
        assert perplexity(model, tokenizer, rows, "instruction") == pytest.approx(expected, rel=1e-5)
        examples, _ = tokens.tokenize_sft(rows, "instruction", tokenizer, 1024)
        answer_tokens = sum(label != IGNORED_LABEL for example in examples for label in example["labels"])
        assert projected == [(answer_tokens, model.config.hidden_size)]


@pytest.mark.parametrize("method", ["PROMPT_TUNING", "P_TUNING", "PREFIX_TUNING"])
def test_perplexity_of_a_prompt_method_scores_the_input_positions(tiny_model_dir, method):
    """Prompt and P-tuning's logits start with their virtual tokens' positions; the score is of the input's (batch
    compare of a prompt-tuning run failed on the lengths before), and the virtual tokens move it."""
    import peft
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    rows = [{"instruction": "the sky", "input": "", "output": "is blue"},
            {"instruction": "what is the colour of the sky today", "input": "", "output": "blue"}]
    base = perplexity(AutoModelForCausalLM.from_pretrained(tiny_model_dir), tokenizer, rows, "instruction")
    config = getattr(peft, {"PROMPT_TUNING": "PromptTuningConfig", "P_TUNING": "PromptEncoderConfig",
                            "PREFIX_TUNING": "PrefixTuningConfig"}[method])(task_type="CAUSAL_LM", num_virtual_tokens=4)
    tuned = peft.get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_model_dir), config)
    value = perplexity(tuned, tokenizer, rows, "instruction")
    assert math.isfinite(value) and value > 1 and value != base


def test_answering_batch_by_batch_gives_the_answers_of_evaluating_at_once(tiny_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from studio.evaluate import answer_rows, evaluate_rows, evaluation_prompts

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    rows = [{"instruction": f"the sky {index}", "input": "", "output": "is blue"} for index in range(5)]
    whole = evaluate_rows(model, tokenizer, rows, "instruction", batch_size=2)
    prompts, references, most = evaluation_prompts(tokenizer, rows, "instruction")
    parts = [answer_rows(model, tokenizer, prompts[start:start + 2], references[start:start + 2], most, 2)
             for start in range(0, 5, 2)]
    assert [row for part in parts for row in part] == whole["details"] and most == whole["max_new_tokens"]
    with pytest.raises(ValueError, match="No rows to evaluate"):
        evaluation_prompts(tokenizer, [], "instruction")
