"""The Chat tab's API panel (serve_panel) in English (EN) and Chinese (ZH); studio.ui.i18n merges them."""

from __future__ import annotations

EN = {
    "serve.title": "Serve over an OpenAI-compatible API",
    "serve.help": "Programs that speak OpenAI's chat API (its Python client, and the many tools built on it) can "
                  "use the model picked above, on this app's own address. One model is served at a time, for "
                  "the whole app; its answers take turns with the chats on this page.",
    "serve.switch": "Serve the model picked in Chat",
    "serve.switch_help": "On: requests to the API below are answered by this model. While it is on, picking "
                         "another model above serves that one instead.",
    "serve.off": "Nothing is served. Switch on to serve the model picked above.",
    "serve.on": "Serving `{model}` at {precision}. Base URL: `{url}` · the model name to send: `{model}`",
    "serve.key": "Key (the client's api_key, sent as `Authorization: Bearer KEY`): `{secret}`",
    "serve.no_key": "No key needed: the app listens on this machine only, so any api_key will do. Start the app "
                    "with --api-key KEY to require one.",
    "serve.example": "Python example",
}
ZH = {
    "serve.title": "通过 OpenAI 兼容的 API 提供模型",
    "serve.help": "支持 OpenAI 对话 API 的程序（它的 Python 客户端，以及基于它的众多工具）可以在本应用自己的地址上"
                  "使用上面选中的模型。整个应用同一时间只提供一个模型；它的回答与本页的对话轮流进行。",
    "serve.switch": "提供对话中选中的模型",
    "serve.switch_help": "打开：下面 API 收到的请求由这个模型回答。打开期间在上面换选模型，就改为提供新选的模型。",
    "serve.off": "当前没有提供模型。打开开关即可提供上面选中的模型。",
    "serve.on": "正在以 {precision} 精度提供 `{model}`。基础地址：`{url}` · 请求中的模型名：`{model}`",
    "serve.key": "密钥（客户端的 api_key，以 `Authorization: Bearer 密钥` 发送）：`{secret}`",
    "serve.no_key": "无需密钥：应用只在本机监听，api_key 填任意值即可。启动应用时加上 --api-key 密钥，即可要求密钥。",
    "serve.example": "Python 示例",
}
