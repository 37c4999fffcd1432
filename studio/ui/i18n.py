"""English and Chinese labels for the UI: the gr.I18n that Gradio translates label keys with.

The browser's language picks the table (Gradio's Settings panel switches it); a key missing
from Chinese falls back to English. The app shell's keys are here; each tab keeps its own in a module
of its own (i18n_dataset, i18n_train, i18n_stages, i18n_methods, i18n_chat_compare_export, i18n_votes, i18n_serve), and studio's messages
are translated by i18n_errors.
"""

from __future__ import annotations

import gradio as gr

from studio.ui.i18n_chat_compare_export import EN as CHAT_COMPARE_EXPORT_EN, ZH as CHAT_COMPARE_EXPORT_ZH
from studio.ui.i18n_dataset import EN as DATASET_EN, ZH as DATASET_ZH
from studio.ui.i18n_methods import EN as METHODS_EN, ZH as METHODS_ZH
from studio.ui.i18n_precision import EN as PRECISION_EN, ZH as PRECISION_ZH
from studio.ui.i18n_serve import EN as SERVE_EN, ZH as SERVE_ZH
from studio.ui.i18n_stages import EN as STAGES_EN, ZH as STAGES_ZH
from studio.ui.i18n_train import EN as TRAIN_EN, ZH as TRAIN_ZH
from studio.ui.i18n_votes import EN as VOTES_EN, ZH as VOTES_ZH

# ---- app shell
EN = {
    "app.title": "Tuning Studio",
    "app.workspace": "Workspace",
    "app.device": "Device",
    "app.language": "Language",
    "app.error_title": "Error",
    "app.cores": "cores",
    "app.threads": "threads",
    "tab.dataset": "Dataset",
    "tab.train": "Train",
    "tab.methods": "Methods",
}
ZH = {
    "app.title": "微调工作室",
    "app.workspace": "工作区",
    "app.device": "设备",
    "app.language": "语言",
    "app.error_title": "错误",
    "app.cores": "核",
    "app.threads": "线程",
    "tab.dataset": "数据集",
    "tab.train": "训练",
    "tab.methods": "方法对比",
}

# The tabs' tables, in the order the pages read them.
for _en, _zh in ((DATASET_EN, DATASET_ZH), (TRAIN_EN, TRAIN_ZH), (STAGES_EN, STAGES_ZH), (METHODS_EN, METHODS_ZH),
                 (CHAT_COMPARE_EXPORT_EN, CHAT_COMPARE_EXPORT_ZH), (VOTES_EN, VOTES_ZH), (SERVE_EN, SERVE_ZH),
                 (PRECISION_EN, PRECISION_ZH)):
    EN.update(_en)
    ZH.update(_zh)

i18n = gr.I18n(en=EN, zh={**EN, **ZH})
