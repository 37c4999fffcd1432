"""What more than one tab needs, so that a tab need not import another for it."""

from __future__ import annotations

import functools
import html
import inspect
import math
import threading
import typing
from pathlib import Path

import gradio as gr

from studio.chat import finished_runs, run_label
from studio.config import SAMPLES_DIR, load_config
from studio.datafile import SUFFIXES
from studio.jobs import JobManager
from studio.sampling import DEFAULTS, RANGES
from studio.ui.i18n import i18n
from studio.ui.lang import language, say
from studio.workspace import datasets_dir


def default_preset() -> str:
    """The preset a new run starts from: sized for a laptop CPU there, the plain LoRA preset on a GPU."""
    from studio.models import pick_device

    return "cpu-lora" if pick_device() == "cpu" else "lora"


def run_name(run_path: str | None) -> str | None:
    """The run's folder name from the followed run's path (what the run fields of Chat, Compare and Export hold)."""
    return run_path.rstrip("/").rsplit("/", 1)[-1] if run_path else None


def default_cutoff() -> int:
    """The cut-off the default preset trains at: the Dataset tab checks lengths against what Start will use."""
    return load_config(default_preset()).cutoff_length


# ---- errors a user can cause
ERROR_SECONDS = 10  # a message closes by itself, and at once when the next action succeeds


def error_text(message: str, lang: str) -> str:
    """A studio message in the page's language: each line translated where i18n_errors.ERRORS_ZH knows its pattern."""
    from studio.ui.i18n_errors import translate_error

    return "\n".join(translate_error(line, lang) for line in message.splitlines()) if lang == "zh" else message


def user_error(message: str, request: gr.Request | None) -> gr.Error:
    """The toast for a message: translated, HTML-escaped line by line, titled in the page's language; it closes
    by itself."""
    lang = language(request)
    lines = error_text(message, lang).splitlines() or [""]
    return gr.Error("<br>".join(html.escape(line) for line in lines), duration=ERROR_SECONDS,
                    title=say(request, "app.error_title"))


def user_errors(handler):
    """studio's ValueErrors reach the user as a translated toast (see user_error); works for plain functions,
    generators, and handlers Gradio passes a gr.Request to.

    Gradio hands a gr.Request to a parameter annotated with it. A handler without one gets a `request`
    parameter added to the signature Gradio reads, so the toast can speak the page's language."""
    signature = inspect.signature(handler)
    parameters = list(signature.parameters.values())
    takes_request = any(is_request(parameter) for parameter in parameters)
    variadic = any(parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD, parameter.KEYWORD_ONLY)
                   for parameter in parameters)
    add_request = not takes_request and not variadic

    def split(args, kwargs):
        if add_request:
            request = kwargs.pop("request", None)
            if request is None and len(args) > len(parameters):
                request, args = args[-1], args[:-1]
            return request, args, kwargs
        try:
            given = signature.bind_partial(*args, **kwargs).arguments
        except TypeError:
            given = {}
        request = next((given.get(parameter.name) for parameter in parameters if is_request(parameter)), None)
        return request, args, kwargs

    if inspect.isgeneratorfunction(handler):
        @functools.wraps(handler)
        def wrapper(*args, **kwargs):
            request, args, kwargs = split(args, kwargs)
            try:
                yield from handler(*args, **kwargs)
            except gr.Error:
                raise
            except ValueError as error:
                raise user_error(str(error), request) from None
    else:
        @functools.wraps(handler)
        def wrapper(*args, **kwargs):
            request, args, kwargs = split(args, kwargs)
            try:
                return handler(*args, **kwargs)
            except gr.Error:
                raise
            except ValueError as error:
                raise user_error(str(error), request) from None
    if add_request:
        extra = inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None,
                                  annotation=gr.Request)
        wrapper.__signature__ = signature.replace(parameters=[*parameters, extra])
        del wrapper.__wrapped__  # Gradio reads the signature above, not the handler's
    wrapper.__annotations__ = special_annotations(handler, inspect.signature(wrapper).parameters.values())
    return wrapper


def is_request(parameter: inspect.Parameter) -> bool:
    return parameter.annotation in (gr.Request, "gr.Request", "gr.Request | None")


def special_annotations(handler, parameters) -> dict:
    """The annotations Gradio reads to hand a handler its gr.Request, gr.SelectData and the like, resolved to the
    classes themselves (Gradio resolves them in the wrapper's module, where the handler's names are unknown)."""
    special = (gr.Request, gr.EventData, gr.SelectData, gr.Progress)
    try:
        hints = typing.get_type_hints(handler)
    except (NameError, TypeError):
        hints = {}
    annotations = {}
    for parameter in parameters:
        hint = hints.get(parameter.name)
        if is_request(parameter):
            annotations[parameter.name] = gr.Request
        elif isinstance(hint, type) and issubclass(hint, special):
            annotations[parameter.name] = hint
    return annotations


def bind(handler, *bound):
    """functools.partial(handler, *bound) that Gradio still hands a gr.Request to (it reads no partial's
    annotations). Generators stay generators, so answers still stream."""
    signature = inspect.signature(handler)
    parameters = list(signature.parameters.values())[len(bound):]
    if inspect.isgeneratorfunction(handler) or inspect.isgeneratorfunction(getattr(handler, "__wrapped__", None)):
        def bound_handler(*args, **kwargs):
            yield from handler(*bound, *args, **kwargs)
    else:
        def bound_handler(*args, **kwargs):
            return handler(*bound, *args, **kwargs)
    bound_handler.__name__ = getattr(handler, "__name__", "handler")
    bound_handler.__doc__ = handler.__doc__
    bound_handler.__signature__ = signature.replace(parameters=parameters)
    bound_handler.__annotations__ = special_annotations(handler, parameters)
    return bound_handler


# ---- lists and widgets more than one tab shows

def dataset_choices() -> list[tuple[str, str]]:
    """Workspace datasets, then the shipped samples: (what the user sees, the file path)."""
    def files(folder: Path) -> list[Path]:
        return [path for path in sorted(folder.iterdir()) if path.suffix in SUFFIXES and not path.name.startswith(".")]
    return ([(path.name, str(path)) for path in files(datasets_dir())]
            + [(f"samples/{path.name}", str(path)) for path in files(SAMPLES_DIR)])


def run_choices(manager: JobManager, current: str | None = None) -> dict:
    """The finished runs, newest first, keeping the choice while it is still there."""
    runs = finished_runs(manager.list_runs())
    names = [run.name for run in runs]
    return {"choices": [(run_label(run), run.name) for run in runs],
            "value": current if current in names else (names[0] if names else None)}


def run_update(manager: JobManager, current: str | None = None) -> dict:
    return gr.update(**run_choices(manager, current))


def settings_widgets(prefix: str) -> list[gr.components.Component]:
    """Temperature, top-p, top-k, max new tokens, repetition penalty and seed, each explained."""
    def text(name: str) -> dict:
        return dict(label=i18n(f"chat.{name}"), info=i18n(f"chat.{name}_help"), elem_id=f"{prefix}-{name.replace('_', '-')}")
    temperature = gr.Slider(*RANGES["temperature"], value=DEFAULTS.temperature, step=0.05, **text("temperature"))
    top_p = gr.Slider(0.05, 1, value=DEFAULTS.top_p, step=0.05, **text("top_p"))
    # The slider offers the useful part of the range; a request may send up to RANGES' limit.
    repetition_penalty = gr.Slider(1, 2, value=DEFAULTS.repetition_penalty, step=0.05, **text("repetition_penalty"))
    with gr.Row(equal_height=True):
        top_k = gr.Number(DEFAULTS.top_k, precision=0, minimum=0, **text("top_k"))
        max_new_tokens = gr.Number(DEFAULTS.max_new_tokens, precision=0, minimum=1, maximum=RANGES["max_new_tokens"][1],
                                   **text("max_new_tokens"))
        seed = gr.Number(DEFAULTS.seed, precision=0, minimum=0, **text("seed"))
    return [temperature, top_p, top_k, max_new_tokens, repetition_penalty, seed]


def precision_dropdown(elem_id: str, label: str = "precision.label", explained: bool = True) -> gr.Dropdown:
    """A model's precision while it answers (studio.precision), explained unless a neighbour explains it."""
    from studio.sampling import PRECISION_CHOICES

    return gr.Dropdown(list(PRECISION_CHOICES), value=PRECISION_CHOICES[0], label=i18n(label),
                       info=i18n("precision.help") if explained else None, elem_id=elem_id)


def speed_caption(speed: dict, request: gr.Request | None = None) -> str:
    """What an answer cost (studio.generate.model_speed), as its caption says it: "int8 · 164 MB of weights ·
    41.2 tokens/s"; an answer of one token has no speed to give."""
    values = {"precision": speed["precision"], "mb": f"{speed['weight_mb']:,}", "speed": speed["tokens_per_second"]}
    return say(request, "precision.caption" if values["speed"] else "precision.caption_short", **values)


class StopSignal(threading.Event):
    """A stop flag per browser session: gr.State deep-copies its initial value for each session, and each copy
    is a new, unset flag."""

    def __deepcopy__(self, memo) -> "StopSignal":
        return StopSignal()


def plain_cell(value):
    """A table widget's cell as the core takes it: an empty cell, which pandas fills with NaN, is None."""
    return None if isinstance(value, float) and math.isnan(value) else value


def table_rows(table) -> list[list]:
    """A table widget's value (a pandas frame, or lists from an API caller) as lists of plain cells."""
    if table is None:
        return []
    rows = table.values.tolist() if hasattr(table, "columns") else table
    return [[plain_cell(cell) for cell in row] for row in rows]


def table_records(frame) -> list[dict]:
    """A table widget's rows as {column: plain cell}."""
    return [{column: plain_cell(value) for column, value in record.items()} for record in frame.to_dict("records")]
