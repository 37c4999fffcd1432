"""The Dataset tab's labels in English (EN) and Chinese (ZH); studio.ui.i18n merges them."""

from __future__ import annotations

EN: dict[str, str] = {}
ZH: dict[str, str] = {}

# ---- dataset tab
EN.update({
    "dataset.steps": "**1** Pick a sample or upload your data → **2** Train → **3** Chat / Compare → **4** Export",
    "dataset.workspace": "Datasets in the workspace",
    "dataset.workspace_help": "Opens as soon as you pick one.",
    "dataset.sample": "Sample datasets",
    "dataset.sample_help": "Opens as soon as you pick one; it says below what it teaches.",
    "dataset.about.identity": "A name demo (instruction, 40 rows in English and Chinese): the model learns to answer "
                              "“Who are you?” with a name you put in. First replace {{name}} and {{author}} with "
                              "Find and replace. After training, ask “Who are you?” in Chat.",
    "dataset.about.reviews": "Sentiment labelling (instruction, 300 reviews): the model learns to answer positive, "
                             "negative or mixed. After training, paste a new review in Chat and see the label.",
    "dataset.about.reviews-train": "The first 240 rows of reviews.jsonl, for training; reviews-test.jsonl is the "
                                   "other 60, held out. Train on this, then test on that in Compare.",
    "dataset.about.reviews-test": "The last 60 rows of reviews.jsonl, held out for evaluation: train on "
                                  "reviews-train.jsonl, then check the labels on these rows the model never saw.",
    "dataset.about.concise-preference": "DPO preference pairs (160 questions): a short chosen answer against a "
                                        "padded rejected one, so the model learns to prefer short answers. Train "
                                        "with stage dpo or orpo, then ask an everyday question in Chat.",
    "dataset.about.concise-preference-train": "The first 128 pairs of concise-preference.jsonl, for training; "
                                              "concise-preference-test.jsonl is the other 32, held out. Train on "
                                              "this, then test on that in Compare.",
    "dataset.about.concise-preference-test": "The last 32 pairs of concise-preference.jsonl, held out for "
                                             "evaluation: train on concise-preference-train.jsonl, then compare "
                                             "answers on these questions the model never saw.",
    "dataset.about.concise-feedback": "KTO feedback (the same 160 questions, unpaired): each question once, with "
                                      "its short answer marked good (true) or its padded one marked bad (false), "
                                      "half each. Train with stage kto, then ask an everyday question in Chat.",
    "dataset.about.concise-feedback-train": "The first 128 rows of concise-feedback.jsonl (64 good, 64 bad), for "
                                            "training; concise-feedback-test.jsonl is the other 32, held out. "
                                            "Train on this with stage kto, then test on that in Compare.",
    "dataset.about.concise-feedback-test": "The last 32 rows of concise-feedback.jsonl (16 good, 16 bad), held out "
                                           "for evaluation: train on concise-feedback-train.jsonl, then compare "
                                           "answers on these questions the model never saw.",
    "dataset.about.wiki-snippets": "Raw text for continued pre-training (41 paragraphs about Lanternhold, an "
                                   "invented island town). Train with stage pretrain, then ask about the Festival "
                                   "of the Long Wick: a base model cannot know it.",
    "dataset.new_name": "New dataset name",
    "dataset.shape": "Shape",
    "dataset.shape_name.instruction": "instruction",
    "dataset.shape_name.chat": "chat",
    "dataset.shape_name.text": "text",
    "dataset.shape_name.preference": "preference",
    "dataset.shape_name.feedback": "feedback (good / bad)",
    "dataset.new": "New dataset",
    "dataset.upload": "Upload a file",
    "dataset.upload_help": ".jsonl, .json, .csv or .txt. Checked row by row and imported only when every row is usable.",
    "dataset.name": "Name (saved as datasets/<name>.jsonl)",
    "dataset.save": "Save",
    "dataset.undo": "Undo last change",
    "dataset.unsaved": "**Unsaved changes**",
    "dataset.saved_to": "Saved to",
    "dataset.search": "Search",
    "dataset.search_help": "Press Enter to show only the rows containing this text; empty shows all.",
    "dataset.page": "Page",
    "dataset.position": "Shown / matching",
    "dataset.table": "Rows (click a cell to edit it; # is the row number)",
    "dataset.add_row": "Add a row",
    "dataset.delete_numbers": "Rows to delete",
    "dataset.delete": "Delete rows",
    "dataset.find_replace": "Find and replace",
    "dataset.find": "Find",
    "dataset.replace_with": "Replace with",
    "dataset.in_columns": "In columns",
    "dataset.in_columns_help": "Empty: every column.",
    "dataset.replace_all": "Replace all",
    "dataset.cells_changed": "Cells changed",
    "dataset.undone_edit": "Undone: the last edit in the table",
    "dataset.undone_add": "Undone: the added row",
    "dataset.undone_delete": "Undone: the deleted rows",
    "dataset.undone_replace": "Undone: the last find and replace",
    "dataset.check": "Check",
    "dataset.row_count": "Rows",
    "dataset.problem_count": "Problems",
    "dataset.problems": "Problems by row and field",
    "dataset.no_problems": "No problems found.",
    "dataset.more_problems": "... and {count} more",
    "dataset.placeholders": "Placeholders left in the data: {counted}. Replace them (Find and replace) before "
                            "training, or the model learns to say them.",
    "dataset.placeholder_rows": "{placeholder} ({count} rows)",
    "dataset.duplicates": "Rows with the same prompt",
    "dataset.no_duplicates": "No duplicates.",
    "dataset.select_copies": "Put the copies in “Rows to delete” (the first of each stays)",
    "dataset.cutoff": "Cut-off length (tokens)",
    "dataset.over_cutoff": "Rows over the cut-off (they are cut)",
    "dataset.histogram": "Tokens per row (blue: within the cut-off, red: over it)",
    "dataset.token_summary": "Tokens per row: min · mean · p95 · max",
    "dataset.no_tokens": "No token counts",
    "dataset.axis_tokens": "tokens",
    "dataset.axis_rows": "rows",
    "dataset.model_view": "What the model sees",
    "dataset.model_view_help": "A row through the embedded model's chat template. Green: trained (the reply the model "
                               "learns to write). Grey: prompt (masked: read, not learned).",
    "dataset.example_row": "Row number",
    "dataset.show": "Show",
    "dataset.split_export": "Split and export",
    "dataset.validation_share": "Share held out for validation",
    "dataset.seed": "Seed (same seed, same split)",
    "dataset.split": "Split into <name>-train and <name>-validation",
    "dataset.split_written": "Written",
    "dataset.export": "Export as JSONL",
    "dataset.export_file": "Exported file",
})
ZH.update({
    "dataset.steps": "**1** 选一个示例或上传数据 → **2** 训练 → **3** 对话 / 对比 → **4** 导出",
    "dataset.workspace": "工作区中的数据集",
    "dataset.workspace_help": "选中即打开。",
    "dataset.sample": "示例数据集",
    "dataset.sample_help": "选中即打开；下方说明它教模型什么。",
    "dataset.about.identity": "名字演示（instruction 格式，40 行，中英文）：模型学会用你填入的名字回答“你是谁？”。"
                              "先用“查找和替换”把 {{name}} 和 {{author}} 换成你的值。训练后在“对话”中问“你是谁？”。",
    "dataset.about.reviews": "情感标注（instruction 格式，300 条评论）：模型学会回答 positive、negative 或 mixed。"
                             "训练后在“对话”中贴一条新评论，看它给出的标签。",
    "dataset.about.reviews-train": "reviews.jsonl 的前 240 行，用于训练；reviews-test.jsonl 是其余 60 行，留作测试。"
                                   "用这份训练，再在“对比”中用那份测试。",
    "dataset.about.reviews-test": "reviews.jsonl 的后 60 行，留作评估：用 reviews-train.jsonl 训练，"
                                  "再看模型在这些没见过的行上给出的标签。",
    "dataset.about.concise-preference": "DPO 偏好数据对（160 个问题）：简短的被选中回答对比啰嗦的被拒绝回答，"
                                        "模型学会偏好简短的回答。用 dpo 或 orpo 阶段训练，再在“对话”中问一个日常问题。",
    "dataset.about.concise-preference-train": "concise-preference.jsonl 的前 128 对，用于训练；"
                                              "concise-preference-test.jsonl 是其余 32 对，留作测试。"
                                              "用这份训练，再在“对比”中用那份测试。",
    "dataset.about.concise-preference-test": "concise-preference.jsonl 的后 32 对，留作评估：用 "
                                             "concise-preference-train.jsonl 训练，再比较模型对这些没见过的问题的回答。",
    "dataset.about.concise-feedback": "KTO 反馈数据（同样的 160 个问题，不成对）：每个问题只出现一次，配上标为好（true）的简短回答"
                                      "或标为坏（false）的啰嗦回答，各占一半。用 kto 阶段训练，再在“对话”中问一个日常问题。",
    "dataset.about.concise-feedback-train": "concise-feedback.jsonl 的前 128 行（64 好、64 坏），用于训练；"
                                            "concise-feedback-test.jsonl 是其余 32 行，留作测试。"
                                            "用 kto 阶段训练这份，再在“对比”中用那份测试。",
    "dataset.about.concise-feedback-test": "concise-feedback.jsonl 的后 32 行（16 好、16 坏），留作评估：用 "
                                           "concise-feedback-train.jsonl 训练，再比较模型对这些没见过的问题的回答。",
    "dataset.about.wiki-snippets": "用于继续预训练的纯文本（41 段，介绍虚构的海岛小镇 Lanternhold）。"
                                   "用 pretrain 阶段训练，再问它 Festival of the Long Wick：基础模型不可能知道。",
    "dataset.new_name": "新数据集名称",
    "dataset.shape": "格式",
    "dataset.shape_name.instruction": "指令（instruction）",
    "dataset.shape_name.chat": "对话（chat）",
    "dataset.shape_name.text": "纯文本（text）",
    "dataset.shape_name.preference": "偏好对（preference）",
    "dataset.shape_name.feedback": "好坏反馈（feedback）",
    "dataset.new": "新建数据集",
    "dataset.upload": "上传文件",
    "dataset.upload_help": ".jsonl、.json、.csv 或 .txt。逐行检查，只有每一行都可用时才导入。",
    "dataset.name": "名称（保存为 datasets/<名称>.jsonl）",
    "dataset.save": "保存",
    "dataset.undo": "撤销上一步",
    "dataset.unsaved": "**有未保存的修改**",
    "dataset.saved_to": "已保存到",
    "dataset.search": "搜索",
    "dataset.search_help": "按回车只显示包含此文本的行；留空显示全部。",
    "dataset.page": "页码",
    "dataset.position": "显示 / 匹配",
    "dataset.table": "数据行（点击单元格编辑；# 为行号）",
    "dataset.add_row": "添加一行",
    "dataset.delete_numbers": "要删除的行",
    "dataset.delete": "删除行",
    "dataset.find_replace": "查找和替换",
    "dataset.find": "查找",
    "dataset.replace_with": "替换为",
    "dataset.in_columns": "在这些列中",
    "dataset.in_columns_help": "留空：所有列。",
    "dataset.replace_all": "全部替换",
    "dataset.cells_changed": "已修改的单元格",
    "dataset.undone_edit": "已撤销：表格中的上一次编辑",
    "dataset.undone_add": "已撤销：添加的行",
    "dataset.undone_delete": "已撤销：删除的行",
    "dataset.undone_replace": "已撤销：上一次查找和替换",
    "dataset.check": "检查",
    "dataset.row_count": "行数",
    "dataset.problem_count": "问题数",
    "dataset.problems": "按行和字段列出的问题",
    "dataset.no_problems": "没有发现问题。",
    "dataset.more_problems": "……另有 {count} 个",
    "dataset.placeholders": "数据中还留有占位符：{counted}。训练前请替换它们（查找和替换），否则模型会学着把它们说出来。",
    "dataset.placeholder_rows": "{placeholder}（{count} 行）",
    "dataset.duplicates": "提示相同的行",
    "dataset.no_duplicates": "没有重复。",
    "dataset.select_copies": "把重复的行填入“要删除的行”（每组保留第一行）",
    "dataset.cutoff": "截断长度（词元）",
    "dataset.over_cutoff": "超过截断长度的行（会被截断）",
    "dataset.histogram": "每行词元数（蓝色：未超过截断长度，红色：超过）",
    "dataset.token_summary": "每行词元数：最小 · 平均 · p95 · 最大",
    "dataset.no_tokens": "无法统计词元",
    "dataset.axis_tokens": "词元数",
    "dataset.axis_rows": "行数",
    "dataset.model_view": "模型看到的内容",
    "dataset.model_view_help": "用内置模型的对话模板渲染一行。绿色：参与训练（模型要学会写出的回答）。"
                               "灰色：提示（被遮盖：只读入，不学习）。",
    "dataset.example_row": "行号",
    "dataset.show": "显示",
    "dataset.split_export": "划分和导出",
    "dataset.validation_share": "留作验证集的比例",
    "dataset.seed": "随机种子（种子相同，划分相同）",
    "dataset.split": "划分为 <名称>-train 和 <名称>-validation",
    "dataset.split_written": "已写入",
    "dataset.export": "导出为 JSONL",
    "dataset.export_file": "导出的文件",
})
