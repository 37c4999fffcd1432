"""Labels of the stages beyond SFT and pre-training, in English (EN) and Chinese (ZH): the reward model, GRPO and
KTO settings of the Train tab (their English help is RunConfig's), and what their charts and tables say.
studio.ui.i18n merges them after the Train tab's, so the stage and beta help here are the final word."""

from __future__ import annotations

EN: dict[str, str] = {
    "train.setting.preference_beta": "Beta (DPO, KTO) / lambda (ORPO) / KL weight (GRPO)",
    "train.setting.reward_model": "Reward model (an rm run)",
    "train.setting.reward_rule": "Reward rule (against the reference answer)",
    "train.setting.reward_pattern": "Reward pattern (regex)",
    "train.setting.reward_length": "Target length (words)",
    "train.setting.grpo_generations": "Answers per prompt",
    "train.setting.grpo_max_new_tokens": "Longest sampled answer (tokens)",
    "train.setting.grpo_temperature": "Sampling temperature",
    "train.grpo_section": "GRPO: what an answer is rewarded for, and how answers are sampled",
    "grpo.chart.reward": "Mean reward of the sampled answers",
    "grpo.chart.reference_kl": "KL from the reference",
    "grpo.chart.answer_length": "Mean answer length (tokens)",
    "grpo.samples": "Sampled answers and their rewards",
    "train.column.reference": "reference answer",
    "train.column.reward": "reward",
    "train.progress.reward": "reward {value}",
}
ZH: dict[str, str] = {
    "train.setting.preference_beta": "Beta（DPO、KTO）/ lambda（ORPO）/ KL 权重（GRPO）",
    "train.setting.reward_model": "奖励模型（一次 rm 训练）",
    "train.setting.reward_rule": "奖励规则（对照参考答案）",
    "train.setting.reward_pattern": "奖励模式（正则表达式）",
    "train.setting.reward_length": "目标长度（词数）",
    "train.setting.grpo_generations": "每个提示采样的回答数",
    "train.setting.grpo_max_new_tokens": "采样回答的最大长度（词元）",
    "train.setting.grpo_temperature": "采样温度",
    "train.help.stage": "sft：学习回答（指令或对话数据）。pretrain：在纯文本上继续预训练。rm：从偏好数据对训练一个给回答打分的奖励模型。"
                        "grpo：强化学习，为提示采样回答并从它们的奖励中学习。dpo / orpo：从偏好数据对中学会偏好被选中的回答。"
                        "kto：从标为好或坏的单个回答中学习。",
    "train.help.preference_beta": "DPO 和 KTO：beta，微调后的模型可偏离参考模型多远（越小偏离越远）。ORPO：lambda，偏好项相对 SFT 损失的权重。"
                                  "GRPO：使策略靠近参考模型的 KL 惩罚的权重（0 = 不惩罚）。",
    "train.help.reward_model": "GRPO：一次已完成的奖励模型训练（阶段 rm），它给每个回答的分数作为奖励。",
    "train.help.reward_rule": "GRPO：回答与该行的参考答案相符时奖励为 1：exact（词语相同）、contains（包含参考答案）、"
                              "regex（奖励模式能匹配回答）；留空 = 不用规则。",
    "train.help.reward_pattern": "GRPO 且奖励规则为 regex 时：好的回答必须匹配的模式（Python 正则，在回答中任意位置查找）。",
    "train.help.reward_length": "GRPO：目标回答长度（词数），恰好达到时奖励为 1，相差越远奖励越低（0 = 不按长度奖励）。",
    "train.help.grpo_generations": "GRPO：每个提示采样的回答数（每个回答的奖励在这一组内比较）。",
    "train.help.grpo_max_new_tokens": "GRPO：采样回答的最大长度（词元）。",
    "train.help.grpo_temperature": "GRPO：采样回答时的温度（越高，一组回答越多样，可学的越多）。",
    "train.grpo_section": "GRPO：回答因什么得到奖励，以及如何采样回答",
    "grpo.chart.reward": "采样回答的平均奖励",
    "grpo.chart.reference_kl": "与参考模型的 KL 散度",
    "grpo.chart.answer_length": "平均回答长度（词元）",
    "grpo.samples": "采样的回答及其奖励",
    "train.column.reference": "参考答案",
    "train.column.reward": "奖励",
    "train.progress.reward": "奖励 {value}",
}
# GRPO's messages (the settings' checks, the reward model, the rows), in Chinese; studio.ui.i18n_errors adds them.
ERRORS_ZH: list[tuple[str, str]] = [
    (r"GRPO learns from rewards: set reward_model \(a reward-model run\), reward_rule \(against the reference "
     r"answers\) or reward_length \(a target length\), or several\.",
     "GRPO 从奖励中学习：请设置奖励模型（一次奖励模型训练）、奖励规则（对照参考答案）或目标长度，也可以同时设置几项。"),
    (r"GRPO learns from rewards: set reward_model, reward_rule or reward_length, or several\.",
     "GRPO 从奖励中学习：请设置奖励模型、奖励规则或目标长度，也可以同时设置几项。"),
    (r"reward_rule regex needs reward_pattern, the pattern a good answer matches\.",
     "奖励规则 regex 需要奖励模式，即好的回答要匹配的模式。"),
    (r"reward_pattern is not a valid regular expression: (.+)\.", "奖励模式不是有效的正则表达式：{0}。"),
    (r"reward_model: (.+) is not a reward-model run \(stage rm\)\.", "奖励模型：{0} 不是奖励模型训练（阶段 rm）。"),
    (r"reward_model: no run '(.*)'; give a finished run of stage rm \(its folder or its name\)\.",
     "奖励模型：没有名为 '{0}' 的训练；请给出一次已完成的 rm 阶段训练（它的文件夹或名称）。"),
    (r"Row (\d+): GRPO needs each row to end with an answer, the reference its rewards compare with\.",
     "第 {0} 行：GRPO 需要每一行以一个回答结尾，奖励拿它作参考答案对照。"),
    (r"No prompt is left after tokenising: every prompt is longer than cutoff_length; raise it\.",
     "分词后没有剩下任何提示：每个提示都比截断长度长；请调大截断长度。"),
    # the reward model (stage rm): methods it refuses, runs it goes on from, scoring with it
    (r"(\S+) cannot train a reward model: its virtual tokens go in as embeddings, and a reward model reads its score "
     r"at the last real token, which it finds from the token ids, so it would read padding\. Choose lora \(or another "
     r"adapter method\), prefix-tuning, freeze or full\.",
     "{0} 无法训练奖励模型：它的虚拟 token 以嵌入向量输入，而奖励模型在最后一个真实 token 上读取分数，要靠 token id 找到它，"
     "所以会读到填充位置。请选择 lora（或其他适配器方法）、prefix-tuning、freeze 或 full。"),
    (r"start_from: (.+) is a (\S+) run; a reward model goes on only from a reward-model run \(stage rm\)\. Leave "
     r"start_from empty to train a new one\.",
     "start_from：{0} 是一次 {1} 训练；奖励模型只能接着一次奖励模型训练（阶段 rm）继续。请把 start_from 留空，训练一个新的。"),
    (r"start_from: (.+) is a reward model \(stage rm\), which scores answers and does not write them; stage (\S+) "
     r"cannot go on from it\.",
     "start_from：{0} 是奖励模型（阶段 rm），它给回答打分而不写回答；阶段 {1} 不能接着它继续。"),
    (r"(.+) is not a reward-model run; pick a finished run trained with stage rm\.",
     "{0} 不是奖励模型训练；请选择一次已完成的 rm 阶段训练。"),
    (r"The reward model (.+) has not finished \((.+)\); pick a finished run of stage rm\.",
     "奖励模型 {0} 尚未完成（{1}）；请选择一次已完成的 rm 阶段训练。"),
]
