"""BLEU-4 and ROUGE-1/2/L of an answer against its reference, as LLaMA-Factory's predict reports them.

The computation is the one of `ComputeSimilarity` in LLaMA-Factory's src/llamafactory/train/sft/metric.py
(https://github.com/hiyouga/LLaMA-Factory, also its scripts/eval_bleu_rouge.py), so the numbers can be set
beside the `predict_bleu-4`, `predict_rouge-1`, ... it prints; here they are `bleu_4`, `rouge_1`, `rouge_2`
and `rouge_l`:

- ROUGE: both texts are cut into words by jieba and joined by spaces; `rouge_chinese.Rouge().get_scores`
  gives the F-measure of rouge-1, rouge-2 and rouge-l (0 when either text has no word).
- BLEU-4: nltk's `sentence_bleu` on characters (not jieba words), smoothed by `SmoothingFunction().method3`.
- Each score is ×100 and rounded to 4 places per row; a total is the mean over rows.

No text is normalized (case, punctuation and spaces count), unlike exact match. jieba builds its prefix
dictionary on first use and keeps it in `jieba.cache` in the system's temporary folder; nltk's BLEU needs
no downloaded data.
"""

from __future__ import annotations

import functools
import logging

SIMILARITY_METRICS = ("bleu_4", "rouge_1", "rouge_2", "rouge_l")
ANSWER_METRICS = ("exact_match", *SIMILARITY_METRICS)  # every score of one answer (exact match: studio.evaluate)
_ROUGE_KEYS = {"rouge_1": "rouge-1", "rouge_2": "rouge-2", "rouge_l": "rouge-l"}


@functools.cache
def _jieba():
    """jieba, its dictionary loaded, without its log lines about building and loading it."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba


def segment(text: str) -> list[str]:
    """jieba's words of a text (spaces between English words are words of their own, as jieba cuts them)."""
    return list(_jieba().cut(text))


def similarity(prediction: str, reference: str) -> dict[str, float]:
    """BLEU-4, ROUGE-1, ROUGE-2 and ROUGE-L of one prediction against its reference, each 0–100."""
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu
    from rouge_chinese import Rouge

    hypothesis, expected = " ".join(segment(prediction)), " ".join(segment(reference))
    if not hypothesis.split() or not expected.split():
        rouge = {key: 0.0 for key in _ROUGE_KEYS.values()}
    else:
        rouge = {key: value["f"] for key, value in Rouge().get_scores(hypothesis, expected)[0].items()}
    bleu = sentence_bleu([list(reference)], list(prediction), smoothing_function=SmoothingFunction().method3)
    return {"bleu_4": round(float(bleu) * 100, 4),
            **{name: round(rouge[key] * 100, 4) for name, key in _ROUGE_KEYS.items()}}
