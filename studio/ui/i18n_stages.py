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
}
