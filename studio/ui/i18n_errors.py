"""studio's messages (written in English in the code) in Chinese: ERRORS_ZH, a (pattern, text) pair for each,
and translate_error, which common.error_text applies to every line of a message."""

from __future__ import annotations

import re

from studio.ui.i18n_methods import ERRORS_ZH as METHODS_ERRORS_ZH
from studio.ui.i18n_stages import ERRORS_ZH as STAGES_ERRORS_ZH
from studio.ui.i18n_votes import ERRORS_ZH as VOTES_ERRORS_ZH

# ---- messages from studio (English in the code), by pattern: each tab adds those its handlers raise.
# A line no pattern knows is shown as it is, under a Chinese title.
ERRORS_ZH: list[tuple[str, str]] = [
    # dataset tab: the data check's lines ("row 3, field 'output': is empty; ..."), then the tab's own messages
    *[(rf"row (\d+), field '([^']+)': is {state}; {re.escape(hint)}", f"第 {{0}} 行，字段 '{{1}}'：{state_zh}；{hint_zh}")
      for state, state_zh in (("empty", "为空"), ("missing", "缺失"))
      for hint, hint_zh in (("write the request or question", "请写上请求或问题"),
                            ("write the answer the model should learn", "请写上模型要学会的回答"),
                            ("add the text or remove the row", "请补上文本，或删除这一行"),
                            ("write the preferred answer", "请写上更好的回答"),
                            ("write the worse answer", "请写上较差的回答"),
                            ("write the answer that is marked good or bad", "请写上被标为好或坏的那个回答"),
                            ("write true (a good answer) or false (a bad one)", "请写 true（好回答）或 false（坏回答）"))],
    (r"row (\d+), field '([^']+)': is empty", "第 {0} 行，字段 '{1}'：为空"),
    (r"row (\d+), field '([^']+)': is missing", "第 {0} 行，字段 '{1}'：缺失"),
    *[(rf"row (\d+), field '([^']+)': must be text, not {re.escape(kind)}", f"第 {{0}} 行，字段 '{{1}}'：必须是文本，不能是{kind_zh}")
      for kind, kind_zh in (("null", " null"), ("true/false", " true/false"), ("a number", "数字"), ("a list", "列表"),
                            ("an object", "对象"))],
    (r"row (\d+), field '([^']+)': is not valid JSON \((.+)\); fix the cell",
     "第 {0} 行，字段 '{1}'：不是有效的 JSON（{2}）；请修改这个单元格"),
    (r"row (\d+): is not valid JSON \((.+)\)", "第 {0} 行：不是有效的 JSON（{1}）"),
    (r"row (\d+): looks like (\w+) data, but this dataset holds (\w+) examples; keep one shape per file",
     "第 {0} 行：看起来是 {1} 格式的数据，但这个数据集是 {2} 格式；一个文件只放一种格式"),
    (r"row (\d+), field '([^']+)': has no messages", "第 {0} 行，字段 '{1}'：没有任何消息"),
    (r"row (\d+), field '([^']+)': has no assistant turn; add the reply the model should learn",
     "第 {0} 行，字段 '{1}'：没有 assistant 回合；请加上模型要学会的回复"),
    (r"row (\d+), field '([^']+)': the conversation must end with an assistant turn \(the reply to learn\); "
     r"add the reply or remove the last turn",
     "第 {0} 行，字段 '{1}'：对话必须以 assistant 回合（要学的回复）结尾；请加上回复，或删除最后一个回合"),
    (r"row (\d+), field '([^']+)': is missing; use one of (.+)", "第 {0} 行，字段 '{1}'：缺失；请用 {2} 之一"),
    (r"row (\d+), field '([^']+)': (.+) is not a known role; use one of (.+)",
     "第 {0} 行，字段 '{1}'：{2} 不是已知的角色；请用 {3} 之一"),
    (r"row (\d+), field '([^']+)': a (\w+) turn cannot follow the start; .+",
     "第 {0} 行，字段 '{1}'：对话不能以 {2} 回合开头；在可选的 system 消息之后，user 与 assistant 回合交替出现"),
    (r"row (\d+), field '([^']+)': a (\w+) turn cannot follow a (\w+) turn; .+",
     "第 {0} 行，字段 '{1}'：{2} 回合不能紧跟在 {3} 回合之后；在可选的 system 消息之后，user 与 assistant 回合交替出现"
     "（assistant 回合之后可以跟工具结果）"),
    (r"row (\d+), field '([^']+)': is the same as 'chosen'; a preference pair needs two different answers",
     "第 {0} 行，字段 '{1}'：与 'chosen' 相同；偏好数据对需要两个不同的回答"),
    *[(rf"row (\d+), field '([^']+)': must be true \(a good answer\) or false \(a bad one\), not {re.escape(kind)}",
       f"第 {{0}} 行，字段 '{{1}}'：必须是 true（好回答）或 false（坏回答），不能是{kind_zh}")
      for kind, kind_zh in (("null", " null"), ("text", "文本（去掉引号）"), ("a number", "数字"), ("a list", "列表"),
                            ("an object", "对象"))],
    (r"row (\d+), field '([^']+)': is missing; add the question the answer replies to",
     "第 {0} 行，字段 '{1}'：缺失；请写上这个回答所回复的问题"),
    (r"row (\d+), field '([^']+)': must end with a user turn: the question the answers reply to",
     "第 {0} 行，字段 '{1}'：必须以 user 回合结尾：也就是回答所回复的问题"),
    (r"The dataset has (\d+) problem\(s\); fix them and try again:", "数据集有 {0} 个问题；请修正后再试："),
    (r"(.+) has (\d+) problem\(s\); fix them and try again:", "{0} 有 {1} 个问题；请修正后再试："),
    (r"\.\.\. and (\d+) more, listed below", "……另有 {0} 个，完整列表见下方"),
    (r"\.\.\. and (\d+) more", "……另有 {0} 个"),
    (r"(.+): The file is empty; add examples and try again\.", "{0}：文件是空的；请加上示例后再试。"),
    (r"(.+): The file holds no examples; add some and try again\.", "{0}：文件中没有示例；请加上一些后再试。"),
    (r"(.+): '(.+)' files are not supported; save it as (.+) and try again\.",
     "{0}：不支持 '{1}' 文件；请另存为 {2} 后再试。"),
    (r"Fix this row first:", "请先修正这一行："),
    (r"Row (\d+) does not exist; the dataset has (\d+) rows\.", "第 {0} 行不存在；数据集共有 {1} 行。"),
    (r"'(.+)' is not a row number or a range like 5-7\.", "“{0}”不是行号，也不是 5-7 这样的范围。"),
    (r"Type the row numbers to delete, e\.g\. 3, 5-7\.", "请输入要删除的行号，例如 3, 5-7。"),
    (r"Type the text to find\.", "请输入要查找的文本。"),
    (r"Nothing to undo\.", "没有可以撤销的修改。"),
    (r"The dataset has no rows; add one first\.", "数据集没有任何行；请先添加一行。"),
    (r"Splitting needs at least 2 rows\.", "划分至少需要 2 行。"),
    (r"A dataset named '(.+)' was saved again since you opened it; saving would replace it\. Save under another "
     r"name \(for example '(.+)'\), or open '(.+)' to edit it\.",
     "名为 '{0}' 的数据集在你打开之后又被保存过；再保存会覆盖它。请换个名称保存（例如 '{1}'），或重新打开 '{2}' 再编辑。"),
    (r"A dataset named '(.+)' is already in the workspace; saving would replace it\. Save under another "
     r"name \(for example '(.+)'\), or open '(.+)' to edit it\.",
     "工作区中已有名为 '{0}' 的数据集；保存会覆盖它。请换个名称保存（例如 '{1}'），或打开 '{2}' 进行编辑。"),
    (r"Row (\d+): the model's chat template cannot render this row \((.+)\)\.",
     "第 {0} 行：模型的对话模板无法渲染这一行（{1}）。"),
    (r"The embedded model's tokenizer could not be loaded \((.+)\)\.", "无法加载内置模型的分词器（{0}）。"),
    (r"Unknown dataset shape '(.+)'; use one of (.+)\.", "未知的数据集格式 '{0}'；请用 {1} 之一。"),
    # chat tab: the question, the examples, the settings, the model it is sent to (studio.chat, studio.generate)
    (r"Type a question first\.", "请先输入问题。"),
    (r"The question and system prompt are longer than ([\d,]+) characters; shorten them\.",
     "问题和系统提示超过了 {0} 个字符；请缩短。"),
    (r"Example (\d+) needs both a question and an answer \(or neither, to skip it\)\.",
     "示例 {0} 需要同时有问题和回答（或者都留空，以跳过它）。"),
    (r"Write an example question and its answer, then add them\.", "请先写好示例问题和它的回答，再添加。"),
    (r"There is no question to answer again yet; send one first\.", "还没有可以重新回答的问题；请先发送一个。"),
    (r"Set a value for (.+)\.", "请为 {0} 填写一个值。"),
    (r"(\w+) must be a number from (\S+) to (\S+) \(it is (.*)\)\.", "{0} 必须是 {1} 到 {2} 之间的数字（现在是 {3}）。"),
    (r"The question with the system prompt and examples is ([\d,]+) tokens; with (\d+) new tokens that passes the "
     r"model's context of ([\d,]+)\. Shorten them or lower max new tokens\.",
     "问题连同系统提示和示例共 {0} 个词元；再加上 {1} 个新词元，就超过了模型 {2} 个词元的上下文。请缩短它们，或调低最大新词元数。"),
    (r"(.+) is not a merged model folder\.", "{0} 不是合并后的模型文件夹。"),
    (r"(.+) holds no adapter/ or model/; is the run finished\?", "{0} 中没有 adapter/ 或 model/；训练完成了吗？"),
    (r"Generation failed: (.+)", "生成失败：{0}"),
    (r"(.+) has ([\d.]+) B parameters: its weights need about ([\d.]+) GiB, but ([\d.]+) GiB is free on the (\w+)\. "
     r"To fit: pick a smaller base model\.",
     "{0} 有 {1} B 参数：仅权重就需要约 {2} GiB，但 {4} 上只有 {3} GiB 可用。解决办法：换一个更小的基础模型。"),
    (r"(.+) has ([\d.]+) B parameters: its weights need about ([\d.]+) GiB, but ([\d.]+) GiB is free on the (\w+)\. "
     r"To fit: pick a smaller base model; use qlora \(a 4-bit base, about a quarter of the memory\)\.",
     "{0} 有 {1} B 参数：仅权重就需要约 {2} GiB，但 {4} 上只有 {3} GiB 可用。解决办法：换一个更小的基础模型；"
     "或使用 qlora（4 位基础模型，约四分之一的内存）。"),
    (r"'(.+)' is not a model the app knows: use 'embedded', a hub id like 'org/model', or a model folder\. The app "
     r"opens only files in its workspace and the shipped samples; to open your own folder, start it with "
     r"--allow-paths FOLDER, or use the command line\.",
     "'{0}' 不是应用认识的模型：请用 'embedded'、'org/model' 这样的模型中心 ID，或一个模型文件夹。应用只打开工作区和附带示例中的"
     "文件；要打开你自己的文件夹，请用 --allow-paths FOLDER 启动应用，或使用命令行。"),
    (r"The model '(.+)' is outside the folders the app may open\. The app opens only files in its workspace and the "
     r"shipped samples; to open your own folder, start it with --allow-paths FOLDER, or use the command line\.",
     "模型 '{0}' 不在应用可以打开的文件夹中。应用只打开工作区和附带示例中的文件；要打开你自己的文件夹，请用 "
     "--allow-paths FOLDER 启动应用，或使用命令行。"),
    (r"'(.+)' is not a model folder, a \.gguf file or a hub id like 'org/model'\. Use 'embedded' for the built-in "
     r"model\.", "'{0}' 不是模型文件夹、.gguf 文件，也不是 'org/model' 这样的模型中心 ID。内置模型请用 'embedded'。"),
    (r"(.+) is not a transformers model folder: it has no config\.json\.",
     "{0} 不是 transformers 模型文件夹：其中没有 config.json。"),
    (r"'(.+)' is not on this machine and the model hub cannot be reached\. Download it where there is a network "
     r"\(`huggingface-cli download (.+) --local-dir DIR`\) and give the folder, or use the embedded model\.",
     "本机上没有 '{0}'，也连不上模型中心。请在有网络的地方下载（`huggingface-cli download {1} --local-dir DIR`），"
     "再给出文件夹；或者使用内置模型。"),
    (r"'(.+)' is not a plain export name \(no folders, no '\.\.'\)\.", "'{0}' 不是单纯的导出名称（不能含文件夹或 '..'）。"),
    # compare tab (studio.compare, studio.evaluate, and the dataset it reads)
    (r"Pick a finished run to compare with its base model \(train one in the Train tab if there is none\)\.",
     "请选择一个已完成的训练，与它的基础模型对比（如果还没有，请先在“训练”页训练一个）。"),
    (r"Type a prompt first\.", "请先输入提示。"),
    (r"Give at least one temperature for the grid\.", "请为网格至少填写一个温度。"),
    (r"Grid temperatures go from 0 \(greedy\) to 2\.", "网格温度的范围是 0（贪心）到 2。"),
    (r"A vote is A, B or tie\.", "投票只能是 A、B 或平局。"),
    (r"Compare in blind mode first, then vote\.", "请先在盲测模式下对比，再投票。"),
    (r"This run kept no validation rows \(validation share 0\); pick a test file instead\.",
     "这个训练没有留出验证数据（验证比例为 0）；请改选一个测试文件。"),
    (r"Pick a dataset to compare on\.", "请选择用来对比的数据集。"),
    (r"Evaluation needs instruction or chat rows, not (\w+)\.", "评估需要指令或对话格式的数据，而不是 {0} 格式。"),
    (r"No rows to evaluate\.", "没有可以评估的数据行。"),
    (r"Evaluation rows must end with an answer to compare against\.", "评估数据的每一行都必须以一个可供比较的回答结尾。"),
    (r"No dataset '(.+)' in the workspace's datasets\.", "工作区的数据集中没有 '{0}'。"),
    (r"No dataset file '(.+)'\.", "没有数据集文件 '{0}'。"),
    # export tab (studio.export, and the run it is given)
    (r"Pick a finished run first\.", "请先选择一个已完成的训练。"),
    (r"Select a run in the runs list first\.", "请先在训练列表中选择一个训练。"),
    (r"No run '(.+)' in this workspace\.", "这个工作区中没有名为 '{0}' 的训练。"),
    (r"'(.+)' is not a run of this workspace\.", "'{0}' 不是这个工作区的训练。"),
    (r"'(.+)' is not a plain run name \(no folders, no '\.\.'\)\.", "'{0}' 不是单纯的训练名称（不能含文件夹或 '..'）。"),
    (r"(.+) is not empty; choose a new folder so nothing is overwritten\.",
     "{0} 不是空的；请换一个新的文件夹名称，以免覆盖已有内容。"),
    (r"Prompt methods \(prefix tuning, prompt tuning, P-Tuning\) add virtual tokens rather than change weights, so "
     r"they cannot be merged\. Export without --merge and load with PeftModel\.",
     "提示类方法（前缀微调、提示微调、P-Tuning）添加的是虚拟词元，并不改变权重，因此无法合并。请不合并直接导出，并用 PeftModel 加载。"),
    (r"(.+) is a link to another folder; only a run's own files are exported\.",
     "{0} 是指向其他文件夹的链接；只导出训练自己的文件。"),
    # train tab: settings (studio.config), start / resume / Train more (studio.jobs), run names, estimate, presets
    (r"(\w+) '(.*)' is not one of: (.+)\.", "{0} 的值 '{1}' 无效；可选：{2}。"),
    (r"(\w+) must be a whole number, not '(.*)'\.", "{0} 必须是整数（现在是 '{1}'）。"),
    (r"(\w+) must be a number, not '(.*)'\.", "{0} 必须是数字（现在是 '{1}'）。"),
    (r"No dataset: set dataset to a \.jsonl/\.json/\.csv/\.txt file\.",
     "还没有数据集：请把数据集设为一个 .jsonl/.json/.csv/.txt 文件。"),
    (r"No dataset '(.+)' in the workspace's datasets\.", "工作区的数据集中没有 '{0}'。"),
    (r"'(.+)' is not a plain dataset name \(no folders, no '\.\.'\)\.",
     "'{0}' 不是单纯的数据集名称（不能含文件夹或 '..'）；请从列表中选择数据集。"),
    (r"A training job is already running \((.+)\)\. Wait for it or abort it first, or add this run to the queue: "
     r"it starts when the workspace is free\.",
     "已有训练在运行（{0}）。请等它结束或先中止它，也可以把这次训练加入队列：工作区空闲时它就会开始。"),
    (r"(.+) is not waiting in the queue; only a queued run that has not started can be removed from it\.",
     "{0} 不在队列中等待；只有尚未开始的排队训练才能移出队列。"),
    (r"Select a queued run in the runs list to remove it from the queue\.", "请先在训练记录中选中要移出队列的排队训练。"),
    (r"(.+) and its numbered variants are all taken; name the run instead\.",
     "{0} 及其带编号的名称都已被占用；请给这次训练起个名字。"),
    (r"(.+) has finished; resuming it would train it again and overwrite its result\. To train it further, use "
     r"Train more: a new run that starts from this one\.",
     "{0} 已完成；继续训练会重新训练并覆盖它的结果。要在它的基础上继续，请用“在此基础上再训练”：以它为起点的新训练。"),
    (r"(.+) is still running\.", "{0} 仍在运行。"),
    (r"(.+) has no checkpoint to resume from\.", "{0} 没有可用于继续训练的检查点。"),
    (r"(.+) has not finished; resume it instead, or pick a finished run\.",
     "{0} 还没有完成；请继续训练它，或选择一个已完成的训练。"),
    (r"Select a run in the runs list to resume it\.", "请先在训练记录中选中要继续的训练。"),
    (r"Select a finished run in the runs list first\.", "请先在训练记录中选中一个已完成的训练。"),
    (r"(.+) already holds a run; choose another output folder or resume it\.",
     "{0} 中已经有一次训练；请换一个文件夹，或继续训练它。"),
    (r"Run name '(.*)': use letters, digits, - and _ only, up to 80 characters\.",
     "训练名称 '{0}'：只能用字母、数字、- 和 _，最多 80 个字符。"),
    (r"A run named '(.+)' already exists; choose another name, or leave it empty for an automatic one\.",
     "已有名为 '{0}' 的训练；请换个名称，或留空以自动命名。"),
    (r"Estimate loads the model inside the app, where a model's own code is never run\. With trust_remote_code, "
     r"start the run \(it trains in a process of its own\) or estimate from the command line\.",
     "估算在应用内部加载模型，而应用中从不运行模型自带的代码。使用 trust_remote_code 时，请直接开始训练（它在独立的进程中训练），"
     "或在命令行中估算。"),
    (r"No training example is left after tokenising; raise cutoff_length\.",
     "分词后没有剩下任何训练样本；请调大 cutoff_length。"),
    (r"This run needs about ([\d.]+) GiB but ([\d.]+) GiB is free on the (\w+); it will likely run out of memory\. "
     r"To fit: (.+)\.", "这次训练约需 {0} GiB，但 {2} 上只有 {1} GiB 可用，很可能内存不足。可以：{3}。"),
    (r"Give the preset a name, e\.g\. my-lora\.", "请给预设起个名字，例如 my-lora。"),
    (r"'(.+)' ships with the studio and is kept as it is; save under another name\.",
     "'{0}' 是工作室自带的预设，不会被覆盖；请换个名字保存。"),
    (r"No preset '(.+)'\. Use one of: (.+?)(, or a path to a \.yaml file)?\.", "没有名为 '{0}' 的预设。可选：{1}。"),
    (r"start_from: (.+) has no adapter/ yet; pick a finished run\.",
     "start_from：{0} 还没有 adapter/；请选择一个已完成的训练。"),
    (r"start_from: (.+) trained a (\S+) adapter; set method to (\S+) to go on with it\.",
     "start_from：{0} 训练的是 {1} 适配器；要继续训练它，请把方法设为 {2}。"),
    (r"start_from: (.+) was trained on base model '(.+)', this run uses '(.+)'; set base_model to '(.+)'\.",
     "start_from：{0} 是在基础模型 '{1}' 上训练的，这次用的是 '{2}'；请把基础模型设为 '{3}'。"),
    # export tab: GGUF
    (r"GGUF export writes (.+); this model is (\S+)\. For other models use llama\.cpp's convert_hf_to_gguf\.py "
     r"\(then llama-quantize\)\.",
     "GGUF 导出支持 {0}；这个模型是 {1}。其他模型请使用 llama.cpp 的 convert_hf_to_gguf.py（再用 llama-quantize 量化）。"),
    (r"GGUF number format '(.*)' is not one of: (.+)\.", "GGUF 数值格式 '{0}' 不在可选范围内：{1}。"),
    (r"(.+) For other models use llama\.cpp's convert_hf_to_gguf\.py \(then llama-quantize\)\.",
     "工作室的 GGUF 导出无法写出这个模型（{0}）。请使用 llama.cpp 的 convert_hf_to_gguf.py（再用 llama-quantize 量化）。"),
    *VOTES_ERRORS_ZH,  # compare tab: votes as data, reward scores
    *STAGES_ERRORS_ZH,  # train tab: GRPO's rewards and rows
    *METHODS_ERRORS_ZH,  # methods tab: comparisons and the queue
]


def translate_error(line: str, language: str) -> str:
    """One line of a studio message in Chinese when a pattern of ERRORS_ZH matches it whole."""
    if language != "zh":
        return line
    for pattern, text in ERRORS_ZH:
        match = re.fullmatch(pattern, line.strip())
        if match:
            return text.format(*match.groups(), **match.groupdict())
    return line
