"""The words of the reports (studio/report.py) and of an experiment's reading (studio/experiments.py), in English
and Chinese, and how their numbers are written: a report is read away from the app, so it carries its own words.

    phrase("zh", "reading.fastest", label="lora", value="1.2", other="dora", other_value="2.5", unit="min")
"""

from __future__ import annotations

LANGUAGES = ("en", "zh")

EN = {
    "list": ", ",
    "reading.learned_most": "{label} learned most: held-out {metric} {base} → {tuned}.",
    "reading.learned": "{label} learned: held-out {metric} {base} → {tuned}.",
    "reading.none_learned": "No run beat its base on held-out {metric} (the best: {label}, {base} → {tuned}).",
    "reading.per_minute": "{label} gained most per minute of training: {metric} +{value} a minute.",
    "reading.smallest_file": "{label} saved the smallest file ({value} MB); {other} the largest ({other_value} MB).",
    "reading.fastest": "{label} trained fastest ({value} min); {other} took longest ({other_value} min).",
    "reading.least_memory": "{label} used the least memory ({value} MB at its peak); {other} the most "
                            "({other_value} MB).",
    "reading.lowest_eval_loss": "{label} reached the lowest validation loss ({value}); {other} the highest "
                                "({other_value}).",
    "reading.queued": "Still queued: {labels}.",
    "reading.running": "Still training: {labels}.",
    "reading.failed": "Failed: {labels}; their numbers are missing.",
    "reading.aborted": "Stopped before the end: {labels}.",
    "reading.heldout_failed": "The held-out evaluation after training failed for {labels}; their summaries say why.",
    "metric.exact_match": "exact match", "metric.bleu_4": "BLEU-4", "metric.rouge_1": "ROUGE-1",
    "metric.rouge_2": "ROUGE-2", "metric.rouge_l": "ROUGE-L", "metric.perplexity": "perplexity",
    "metric.reward": "reward",
    "title.run": "Run report: {name}",
    "title.experiment": "Comparison report: {name}",
    "title.runs": "Comparison of {count} runs",
    "made": "Made {time} with Tuning Studio.",
    "section.glance": "At a glance", "section.data": "The data", "section.settings": "The settings",
    "section.curves": "Training curves", "section.probes": "Probe answers over time",
    "section.compare": "Before and after: the base and the tuned model on the same rows",
    "section.votes": "Blind votes", "section.general": "General knowledge", "section.hardware": "Time and hardware",
    "section.reading": "What the numbers say", "section.table": "The runs side by side",
    "section.runs": "Each run's settings",
    "fact.status": "Status", "fact.error": "Error", "fact.base_model": "Base model", "fact.method": "Method",
    "fact.stage": "Stage", "fact.dataset": "Dataset file", "fact.validation_dataset": "Validation file",
    "fact.shape": "Rows' shape", "fact.file_rows": "Rows in the file", "fact.train_rows": "Training rows",
    "fact.validation_rows": "Validation rows", "fact.truncated_rows": "Rows cut at the cutoff length",
    "fact.train_loss": "Final training loss", "fact.eval_loss": "Final validation loss", "fact.steps": "Steps",
    "fact.heldout": "Held-out {metric} (base → tuned)", "fact.wall": "Wall time",
    "fact.trained_tokens": "Trained tokens", "fact.tokens_per_second": "Tokens per second",
    "fact.peak_memory": "Peak memory", "fact.parameters": "Trained parameters",
    "fact.trained_on": "Trained on", "fact.made_on": "This report made on", "fact.heldout_seconds":
    "Held-out evaluation time", "fact.preset": "Preset", "fact.variable": "Setting varied", "fact.values": "Values",
    "fact.heldout_rows": "Held-out rows", "fact.created": "Queued", "fact.budget": "Steps for every run",
    "fact.budget_own": "each run its own", "fact.heldout_off": "off", "fact.cores": "cores", "fact.threads": "threads",
    "fact.seconds": "{seconds} s ({minutes} min)", "fact.of": "{part} of {whole}",
    "status.finished": "finished", "status.aborted": "aborted", "status.failed": "failed",
    "status.running": "running", "status.queued": "queued", "status.created": "not started",
    "column.setting": "setting", "column.value": "value", "column.default": "default", "column.metric": "metric",
    "column.base": "base", "column.tuned": "tuned", "column.change": "change (+ = better)", "column.row": "#",
    "column.prompt": "prompt", "column.reference": "reference", "column.step": "step", "column.answer": "answer",
    "column.similarity": "similarity", "column.votes": "votes", "column.tie": "tie", "column.winner": "winner",
    "column.run": "run", "column.label": "label", "column.status": "status",
    "column.trainable_parameters": "trained parameters", "column.peak_memory_mb": "peak memory (MB)",
    "column.minutes": "minutes", "column.tokens_per_second": "tokens/s", "column.eval_loss": "validation loss",
    "column.heldout_metric": "held-out metric", "column.heldout_base": "held-out base",
    "column.heldout_tuned": "held-out tuned", "column.saved_mb": "saved (MB)", "column.method": "method",
    "column.own": "its own settings (where the runs differ)",
    "shared": "Settings every run shares (where they differ from the defaults)",
    "chart.step": "step", "chart.loss": "loss", "chart.training_loss": "training loss",
    "chart.validation_loss": "validation loss", "chart.train": "training", "chart.validation": "validation",
    "chart.preference_accuracy": "preference accuracy", "chart.reward_margin": "reward margin",
    "chart.reward_good": "reward of good answers", "chart.reward_bad": "reward of bad answers",
    "chart.reference_kl": "KL from the reference", "chart.reward": "mean reward",
    "chart.reward_rule": "rule reward", "chart.reward_length": "length reward",
    "chart.reward_model": "reward model's score",
    "chart.answer_length": "answer length (tokens)",
    "more_settings": "The other {count} settings (as the defaults)",
    "example_rows": "The first rows of the file:",
    "expected": "Expected (held out): {text}",
    "compare.heading": "{dataset}, {rows} rows",
    "compare.heldout": "{dataset}, {rows} rows: the held-out evaluation after training",
    "compare.read": "Read {metric}: exact match for short answers (0–1), ROUGE-L for longer ones (0–100). Perplexity: "
                    "lower is better.",
    "compare.examples": "The first rows, both answers:",
    "votes.tally": "The tuned model won {tuned} of {votes} blind votes, the base {base}; {tie} were ties.",
    "general.drift": "Drift {drift}: 1 − the mean ROUGE-L between the base's and the tuned model's answers to "
                     "everyday prompts (0 = unchanged, 1 = nothing in common).",
    "missing.curve": "Not measured: the run logged no step yet.",
    "missing.probes": "Not measured: this run answered no probe prompts (set probe_prompts, or keep validation rows "
                      "for two default probes).",
    "missing.compare": "Not measured: run batch compare in the Compare tab, or set heldout before training to "
                       "measure it after the run.",
    "missing.votes": "Not measured: no blind votes yet. Vote in the Compare tab with blind on.",
    "missing.general": "Not measured: run the general-knowledge check in the Compare tab.",
    "missing.memory": "not measured (runs trained before the studio kept it)",
    "missing.unfinished": "Not measured yet: the run has not finished.",
    "missing.data": "The dataset file can no longer be read: {error}",
    "missing.table": "None of the runs has numbers yet.",
    "missing.reading": "Nothing to say yet: the numbers are still missing.",
}

ZH = {
    "list": "、",
    "reading.learned_most": "{label} 学到的最多：留出集{metric} {base} → {tuned}。",
    "reading.learned": "{label} 有所提升：留出集{metric} {base} → {tuned}。",
    "reading.none_learned": "没有一个训练在留出集{metric}上超过其基础模型（最好的是 {label}：{base} → {tuned}）。",
    "reading.per_minute": "{label} 每分钟训练的提升最大：{metric}每分钟 +{value}。",
    "reading.smallest_file": "{label} 保存的文件最小（{value} MB）；{other} 最大（{other_value} MB）。",
    "reading.fastest": "{label} 训练最快（{value} 分钟）；{other} 最慢（{other_value} 分钟）。",
    "reading.least_memory": "{label} 占用内存最少（峰值 {value} MB）；{other} 最多（{other_value} MB）。",
    "reading.lowest_eval_loss": "{label} 的验证损失最低（{value}）；{other} 最高（{other_value}）。",
    "reading.queued": "仍在排队：{labels}。",
    "reading.running": "仍在训练：{labels}。",
    "reading.failed": "失败：{labels}；它们缺少数据。",
    "reading.aborted": "未训练完就已停止：{labels}。",
    "reading.heldout_failed": "{labels} 训练后的留出集评估失败；原因见其摘要。",
    "metric.exact_match": "完全匹配", "metric.bleu_4": "BLEU-4", "metric.rouge_1": "ROUGE-1",
    "metric.rouge_2": "ROUGE-2", "metric.rouge_l": "ROUGE-L", "metric.perplexity": "困惑度", "metric.reward": "奖励",
    "title.run": "训练报告：{name}",
    "title.experiment": "对比报告：{name}",
    "title.runs": "{count} 个训练的对比",
    "made": "由微调工作室于 {time} 生成。",
    "section.glance": "概览", "section.data": "数据", "section.settings": "设置", "section.curves": "训练曲线",
    "section.probes": "探针回答的变化", "section.compare": "前后对比：基础模型与微调模型回答同样的行",
    "section.votes": "盲评投票", "section.general": "常识", "section.hardware": "时间与硬件",
    "section.reading": "数字说明了什么", "section.table": "训练并排对比", "section.runs": "各训练的设置",
    "fact.status": "状态", "fact.error": "错误", "fact.base_model": "基础模型", "fact.method": "方法",
    "fact.stage": "阶段", "fact.dataset": "数据集文件", "fact.validation_dataset": "验证文件",
    "fact.shape": "数据形式", "fact.file_rows": "文件中的行数", "fact.train_rows": "训练行数",
    "fact.validation_rows": "验证行数", "fact.truncated_rows": "按截断长度截断的行数",
    "fact.train_loss": "最终训练损失", "fact.eval_loss": "最终验证损失", "fact.steps": "步数",
    "fact.heldout": "留出集{metric}（基础 → 微调）", "fact.wall": "总用时",
    "fact.trained_tokens": "训练的词元数", "fact.tokens_per_second": "每秒词元数", "fact.peak_memory": "内存峰值",
    "fact.parameters": "训练的参数", "fact.trained_on": "训练设备", "fact.made_on": "生成本报告的设备",
    "fact.heldout_seconds": "留出集评估用时", "fact.preset": "预设", "fact.variable": "变化的设置",
    "fact.values": "取值", "fact.heldout_rows": "留出集行数", "fact.created": "排队时间",
    "fact.budget": "每个训练的步数", "fact.budget_own": "各训练自定", "fact.heldout_off": "关闭", "fact.cores": "核",
    "fact.threads": "线程",
    "fact.seconds": "{seconds} 秒（{minutes} 分钟）", "fact.of": "{whole} 中的 {part}",
    "status.finished": "已完成", "status.aborted": "已中止", "status.failed": "失败", "status.running": "训练中",
    "status.queued": "排队中", "status.created": "未开始",
    "column.setting": "设置", "column.value": "值", "column.default": "默认值", "column.metric": "指标",
    "column.base": "基础模型", "column.tuned": "微调模型", "column.change": "变化（+ = 更好）", "column.row": "#",
    "column.prompt": "提示", "column.reference": "参考答案", "column.step": "步", "column.answer": "回答",
    "column.similarity": "相似度", "column.votes": "票数", "column.tie": "平局", "column.winner": "胜者",
    "column.run": "训练", "column.label": "标签", "column.status": "状态", "column.trainable_parameters": "训练的参数",
    "column.peak_memory_mb": "内存峰值（MB）", "column.minutes": "分钟", "column.tokens_per_second": "词元/秒",
    "column.eval_loss": "验证损失", "column.heldout_metric": "留出集指标", "column.heldout_base": "留出集基础",
    "column.heldout_tuned": "留出集微调", "column.saved_mb": "保存大小（MB）", "column.method": "方法",
    "column.own": "各自的设置（训练之间不同之处）",
    "shared": "所有训练共用的设置（与默认值不同之处）",
    "chart.step": "步", "chart.loss": "损失", "chart.training_loss": "训练损失", "chart.validation_loss": "验证损失",
    "chart.train": "训练", "chart.validation": "验证", "chart.preference_accuracy": "偏好准确率",
    "chart.reward_margin": "奖励差", "chart.reward_good": "好回答的奖励", "chart.reward_bad": "坏回答的奖励",
    "chart.reference_kl": "与参考模型的 KL 散度", "chart.reward": "平均奖励", "chart.reward_rule": "规则奖励",
    "chart.reward_length": "长度奖励", "chart.reward_model": "奖励模型评分", "chart.answer_length": "回答长度（词元）",
    "more_settings": "其余 {count} 项设置（与默认值相同）",
    "example_rows": "文件的前几行：",
    "expected": "应有的回答（留出）：{text}",
    "compare.heading": "{dataset}，{rows} 行",
    "compare.heldout": "{dataset}，{rows} 行：训练后的留出集评估",
    "compare.read": "看{metric}：短答案看完全匹配（0–1），长答案看 ROUGE-L（0–100）。困惑度越低越好。",
    "compare.examples": "前几行的两个回答：",
    "votes.tally": "在 {votes} 次盲评中，微调模型胜 {tuned} 次，基础模型胜 {base} 次，平局 {tie} 次。",
    "general.drift": "漂移 {drift}：基础模型与微调模型对日常提示的回答之间 1 − 平均 ROUGE-L（0 = 没有变化，1 = 毫无共同之处）。",
    "missing.curve": "未测量：该训练还没有记录任何一步。",
    "missing.probes": "未测量：该运行没有回答探针提示（设置 probe_prompts，或保留验证行以使用两个默认探针）。",
    "missing.compare": "未测量：在对比页运行批量对比，或在训练前设置 heldout，训练后即会测量。",
    "missing.votes": "未测量：还没有盲评投票。在对比页开启盲评后投票。",
    "missing.general": "未测量：在对比页运行常识检查。",
    "missing.memory": "未测量（工作室记录内存峰值之前训练的运行）",
    "missing.unfinished": "尚未测量：训练还没有完成。",
    "missing.data": "数据集文件已无法读取：{error}",
    "missing.table": "还没有任何训练有数据。",
    "missing.reading": "暂时无话可说：数据仍然缺失。",
}


def check_language(language: str) -> str:
    if language not in LANGUAGES:
        raise ValueError(f"Language '{language}': use one of {', '.join(LANGUAGES)}.")
    return language


def phrase(language: str, key: str, **values) -> str:
    """The words of `key` in the language (English where the Chinese has none), with the values put in."""
    table = ZH if check_language(language) == "zh" else EN
    return table.get(key, EN[key]).format(**values)


def metric_name(language: str, metric: str) -> str:
    key = f"metric.{metric}"
    return phrase(language, key) if key in EN else metric


def number(value) -> str:
    """A number as the reading writes it: whole numbers with separators, two decimals below 100, fewer digits
    for tiny values."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    size = abs(value)
    if size >= 100:
        return f"{value:,.0f}"
    if size >= 0.01 or size == 0:
        return f"{value:.2f}"
    return f"{value:.2g}"
