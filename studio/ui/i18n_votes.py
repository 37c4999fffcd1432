"""The Compare tab's votes as data and its reward scores, in English (EN) and Chinese (ZH), and the Chinese of
the messages studio.votes and studio.reward_scores raise (ERRORS_ZH); studio.ui.i18n and i18n_errors merge
them."""

from __future__ import annotations

EN = {
    "compare.reward": "Reward model",
    "compare.reward_help": "A finished reward model run scores each answer (higher is better): beside the two "
                           "answers, in the temperature grid and in batch compare. None: no scores.",
    "compare.reward_none": "None (no scores)",
    "compare.reward_score": "Reward score: **{score}**",
    "compare.metric.reward": "Reward score",
    "compare.progress.rewarding": "Scoring the answers with the reward model…",
    "compare.votes_kind": "Dataset kind",
    "compare.votes_kind.preference": "Preference pairs (DPO, ORPO)",
    "compare.votes_kind.feedback": "Good / bad answers (KTO)",
    "compare.votes_help": "Preference pairs: the winning answer is chosen, the other rejected. KTO: the winning "
                          "answer is marked good, the other bad. Ties, and votes from before answers were kept, "
                          "are left out.",
    "compare.votes_name": "New dataset name",
    "compare.votes_name_placeholder": "Empty: named after the run",
    "compare.votes_make": "Make a dataset from the votes",
    "compare.votes_made": "Made **{name}** ({kind}): {rows} rows from {votes} votes; open it in the Dataset tab. "
                          "Left out: ties {tie} · old votes without answers {old} · empty or identical answers "
                          "{unusable}.",
}
ZH = {
    "compare.reward": "奖励模型",
    "compare.reward_help": "用一个已完成的奖励模型训练给每个回答打分（越高越好）：显示在两个回答旁边、温度网格和批量对比中。"
                           "选“无”则不打分。",
    "compare.reward_none": "无（不打分）",
    "compare.reward_score": "奖励分数：**{score}**",
    "compare.metric.reward": "奖励分数",
    "compare.progress.rewarding": "正在用奖励模型给回答打分…",
    "compare.votes_kind": "数据集类型",
    "compare.votes_kind.preference": "偏好对（DPO、ORPO）",
    "compare.votes_kind.feedback": "好 / 坏回答（KTO）",
    "compare.votes_help": "偏好对：胜出的回答作为 chosen，另一个作为 rejected。KTO：胜出的回答标为好，另一个标为坏。"
                          "平局，以及开始保存回答之前的旧投票，不计入。",
    "compare.votes_name": "新数据集名称",
    "compare.votes_name_placeholder": "留空：按训练名称命名",
    "compare.votes_make": "用投票生成数据集",
    "compare.votes_made": "已生成 **{name}**（{kind}）：由 {votes} 票得到 {rows} 行；可在“数据集”页打开。"
                          "未计入：平局 {tie} · 没有回答的旧投票 {old} · 回答为空或相同 {unusable}。",
}

# studio.votes' and studio.reward_scores' messages, by pattern (see i18n_errors).
ERRORS_ZH: list[tuple[str, str]] = [
    (r"No blind votes on (.+) yet: compare in blind mode and vote first\.",
     "{0} 还没有盲测投票：请先在盲测模式下对比并投票。"),
    (r"None of the (\d+) votes on (.+) makes a row: (\d+) ties, (\d+) old votes without answers, (\d+) with empty "
     r"or identical answers\.",
     "{1} 的 {0} 票都生成不了数据行：平局 {2} 票，没有回答的旧投票 {3} 票，回答为空或相同 {4} 票。"),
    (r"A dataset named '(.+)' is already in the workspace; choose another name \(for example '(.+)'\), or leave "
     r"the name empty for a new one\.",
     "工作区中已有名为 '{0}' 的数据集；请换个名称（例如 '{1}'），或留空以自动命名。"),
    (r"A dataset made from votes is preference or feedback, not '(.*)'\.",
     "由投票生成的数据集只能是偏好对（preference）或好 / 坏回答（feedback），不能是 '{0}'。"),
    (r"'(.+)' is not a finished reward model run; pick one in the list, or none\.",
     "'{0}' 不是已完成的奖励模型训练；请从列表中选择一个，或选“无”。"),
    (r"The reward model gave (\d+) scores for (\d+) answers\.", "奖励模型为 {1} 个回答给出了 {0} 个分数。"),
]
