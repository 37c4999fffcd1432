"""GGUF export: a model folder the studio trained, written as one .gguf file for llama.cpp and Ollama, with a Modelfile.

    write_gguf(Path("exports/demo-merged"), Path("exports/demo.q8_0.gguf"), quant="q8_0")
    modelfile("demo.q8_0.gguf", tokenizer.chat_template)      # FROM, TEMPLATE, stop tokens, sampling
    run_commands(Path("exports/demo-gguf-q8_0/demo.q8_0.gguf"))  # ollama create/run, llama-cli

The file is laid out as llama.cpp's convert_hf_to_gguf.py lays it out: gguf's tensor names, Llama's q and k rows
permuted for its rotary embedding, norms in f32, 2-D weights in the chosen type. So llama.cpp runs it, and
transformers reads it back (`from_pretrained(folder, gguf_file=name)`), undoing the permutation. Only the gguf
package is needed: nothing is downloaded. The tokenizer must be byte-level BPE (SmolLM2, Llama 3, Qwen2 and most
recent models); a sentencepiece one is refused with what to use instead.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from studio.sampling import DEFAULTS, GenerationSettings

# transformers class -> gguf architecture; Mistral is a Llama to llama.cpp.
SUPPORTED = {"LlamaForCausalLM": "llama", "MistralForCausalLM": "llama", "Qwen2ForCausalLM": "qwen2"}
QUANTS = ("f32", "f16", "q8_0", "q4_0")
PERMUTED = {"llama"}  # architectures whose q and k rows llama.cpp reorders for its rotary embedding
# What 4 bits cost most on: the embedding (which is also the output when tied) and the output stay at 8.
KEPT_AT_8_BITS = ("token_embd.weight", "output.weight")
OTHER_TOOL = "For other models use llama.cpp's convert_hf_to_gguf.py (then llama-quantize)."


def write_gguf(model_dir: Path, out_path: Path, quant: str = "f16") -> Path:
    """Write the transformers model folder `model_dir` (config.json, safetensors, tokenizer) as one GGUF file."""
    import gguf

    model_dir, out_path = Path(model_dir), Path(out_path)
    qtype = quant_type(quant)
    config, arch = read_config(model_dir)
    vocabulary = read_vocabulary(model_dir, config.vocab_size)
    weights = sorted(model_dir.glob("*.safetensors"))
    if not weights:
        raise ValueError(f"{model_dir} holds no .safetensors weights; save the model with save_pretrained first.")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    partial = out_path.with_name(f".{out_path.name}.partial")  # renamed into place once whole
    writer = gguf.GGUFWriter(partial, arch)
    try:
        writer.add_type(gguf.GGUFType.MODEL)
        # transformers reads a file named exactly "mistral" as an architecture gguf has no tensor names for
        writer.add_name(re.sub(r"^mistral$", "mistral-model", out_path.name.split(".")[0]))
        add_hyperparameters(writer, config, quant)
        add_vocabulary(writer, vocabulary)
        plan = plan_tensors(weights, config, arch, qtype)
        # Two passes, one tensor in memory at a time: the tensors' names, shapes and sizes first, then their data.
        for gguf_name, shape, kind, _ in plan.values():
            writer.add_tensor_info(gguf_name, shape, np.dtype(np.float32), tensor_bytes(shape, kind), kind)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        for array, kind in converted_tensors(weights, plan, config, arch):
            writer.write_tensor_data(gguf.quants.quantize(array, kind))
        writer.close()
        os.replace(partial, out_path)
    except BaseException:
        writer.close()
        partial.unlink(missing_ok=True)
        raise
    return out_path


def quant_type(quant: str):
    """The ggml type of a quant the studio offers."""
    from gguf import GGMLQuantizationType

    if quant not in QUANTS:
        raise ValueError(f"GGUF export offers {', '.join(QUANTS)}, not '{quant}'. q8_0 answers closest to the "
                         "original at half f16's size; q4_0 is smallest. For Q4_K_M and other k-quants, run "
                         "llama-quantize on the f16 file.")
    return GGMLQuantizationType[quant.upper()]


def read_config(model_dir: Path):
    """(the transformers config, its gguf architecture); a model this writer does not cover is refused."""
    from transformers import AutoConfig

    path = model_dir / "config.json"
    if not path.exists():
        raise ValueError(f"{model_dir} is not a transformers model folder: it has no config.json.")
    classes = json.loads(path.read_text(encoding="utf-8")).get("architectures") or ["(none given)"]
    if classes[0] not in SUPPORTED:
        raise ValueError(f"GGUF export writes {', '.join(SUPPORTED)}; this model is {classes[0]}. {OTHER_TOOL}")
    config = AutoConfig.from_pretrained(model_dir)
    if rope_settings(config)[1] not in ("default", "linear"):
        raise ValueError(f"This model's rope scaling ({rope_settings(config)[1]}) is not one the studio's GGUF export "
                         f"writes. {OTHER_TOOL}")
    return config, SUPPORTED[classes[0]]


def rope_settings(config) -> tuple[float, str, float | None]:
    """(theta, scaling type, factor), whichever way the config spells them (rope_parameters, or rope_theta and
    rope_scaling)."""
    rope = {"rope_theta": getattr(config, "rope_theta", None) or 10000.0,
            **(getattr(config, "rope_parameters", None) or {}), **(getattr(config, "rope_scaling", None) or {})}
    return float(rope["rope_theta"]), rope.get("rope_type") or rope.get("type") or "default", rope.get("factor")


def add_hyperparameters(writer, config, quant: str) -> None:
    """The shape of the model under llama.cpp's key names, and the file's type."""
    from gguf import GGML_QUANT_VERSION, LlamaFileType, RopeScalingType

    heads = config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    for add, value in [(writer.add_context_length, config.max_position_embeddings),
                       (writer.add_embedding_length, config.hidden_size),
                       (writer.add_block_count, config.num_hidden_layers),
                       (writer.add_feed_forward_length, config.intermediate_size), (writer.add_head_count, heads),
                       (writer.add_head_count_kv, getattr(config, "num_key_value_heads", None) or heads),
                       (writer.add_rope_dimension_count, head_dim), (writer.add_vocab_size, config.vocab_size)]:
        add(value)
    if head_dim != config.hidden_size // heads:
        writer.add_key_length(head_dim)
        writer.add_value_length(head_dim)
    theta, scaling, factor = rope_settings(config)
    writer.add_rope_freq_base(theta)
    if scaling == "linear":
        writer.add_rope_scaling_type(RopeScalingType.LINEAR)
        writer.add_rope_scaling_factor(float(factor))
    writer.add_layer_norm_rms_eps(float(config.rms_norm_eps))
    writer.add_file_type({"f32": LlamaFileType.ALL_F32, "f16": LlamaFileType.MOSTLY_F16,
                          "q8_0": LlamaFileType.MOSTLY_Q8_0, "q4_0": LlamaFileType.MOSTLY_Q4_0}[quant])
    writer.add_quantization_version(GGML_QUANT_VERSION)


# ------------------------------------------------------------------------------------------------ the tokenizer


@dataclass
class Vocabulary:
    tokens: list[str]
    types: list[int]
    merges: list[str]
    pre: str                 # llama.cpp's name for how text is cut before the merges
    ids: dict[str, int]      # bos, eos, unk, pad, eot: those the tokenizer has
    add_bos: bool
    add_eos: bool
    chat_template: str | None


def read_vocabulary(model_dir: Path, vocab_size: int) -> Vocabulary:
    """The tokenizer as llama.cpp's "gpt2" (byte-level BPE) vocabulary: tokens, their types, merges, special ids."""
    from gguf import TokenType
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    backend = getattr(tokenizer, "backend_tokenizer", None)
    spec = json.loads(backend.to_str()) if backend is not None else {}
    model = spec.get("model") or {}
    if model.get("type") != "BPE" or model.get("byte_fallback"):
        kind = (f"{model.get('type')}{' with byte fallback' if model.get('byte_fallback') else ''}" if model
                else "one without a tokenizer.json")
        raise ValueError(f"GGUF export writes byte-level BPE tokenizers; this one is {kind}. {OTHER_TOOL}")
    pre = pre_tokenizer_name(spec.get("pre_tokenizer"), spec.get("normalizer"))
    added = {token["id"]: token for token in spec.get("added_tokens", [])}
    vocab = {index: token for token, index in model["vocab"].items()} | {i: t["content"] for i, t in added.items()}
    if max(vocab) >= vocab_size:
        raise ValueError(f"The tokenizer has {max(vocab) + 1} tokens but the model's embedding only {vocab_size}; "
                         "resize the embedding (model.resize_token_embeddings) before exporting.")
    tokens = [vocab.get(index, f"[PAD{index}]") for index in range(vocab_size)]
    types = [TokenType.UNUSED if index not in vocab else TokenType.NORMAL if index not in added
             else TokenType.CONTROL if added[index].get("special") else TokenType.USER_DEFINED
             for index in range(vocab_size)]
    merges = [merge if isinstance(merge, str) else " ".join(merge) for merge in model.get("merges", [])]
    if any(merge.count(" ") != 1 for merge in merges):
        raise ValueError(f"A merge of this tokenizer holds a space, which GGUF's merge list cannot. {OTHER_TOOL}")
    template = tokenizer.chat_template if isinstance(tokenizer.chat_template, str) else None
    ids = {name: getattr(tokenizer, f"{name}_token_id") for name in ("bos", "eos", "unk", "pad")}
    end = TEMPLATE_FAMILIES.get(template_family(template), {}).get("end")
    ids["eot"] = tokenizer.convert_tokens_to_ids(end) if end in tokens else None
    plain, full = tokenizer.encode("a", add_special_tokens=False), tokenizer.encode("a")
    return Vocabulary(tokens, [int(kind) for kind in types], merges, pre,
                      {name: index for name, index in ids.items() if index is not None},
                      full[0] == ids["bos"] != plain[0], full[-1] == ids["eos"] != plain[-1], template)


def pre_tokenizer_name(pre: dict | None, normalizer: dict | None) -> str:
    """llama.cpp's name for the tokenizer's pre-tokenizer (how text is cut before the merges), or a refusal."""
    from transformers.integrations.gguf.gguf_tokenizer_mapping import GGUF_PRE_TOKENIZER_SPLITS as SPLITS

    steps = pre.get("pretokenizers", []) if (pre or {}).get("type") == "Sequence" else [pre or {}]
    kinds = [step.get("type") for step in steps]
    last = steps[-1] if steps else {}
    if (normalizer or {}).get("type", "NFC") == "NFC" and last.get("type") == "ByteLevel" \
            and not last.get("add_prefix_space"):
        regex = last.get("use_regex", True)
        if kinds == ["ByteLevel"] and regex:
            return "gpt-2"
        if kinds == ["Digits", "ByteLevel"] and regex and steps[0].get("individual_digits"):
            return "smollm"
        split = steps[0].get("pattern", {}).get("Regex") if kinds == ["Split", "ByteLevel"] else None
        known = {SPLITS["llama-bpe"]: "llama-bpe", SPLITS["qwen2"]: "qwen2"}
        if split in known and not regex:
            return known[split]
    raise ValueError(f"This tokenizer cuts text in a way the studio's GGUF export has no llama.cpp name for "
                     f"(pre-tokenizer {' + '.join(map(str, kinds))}, normalizer {(normalizer or {}).get('type')}). "
                     f"{OTHER_TOOL}")


def add_vocabulary(writer, vocabulary: Vocabulary) -> None:
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(vocabulary.pre)
    writer.add_token_list(vocabulary.tokens)
    writer.add_token_types(vocabulary.types)
    writer.add_token_merges(vocabulary.merges)
    adders = {"bos": writer.add_bos_token_id, "eos": writer.add_eos_token_id, "unk": writer.add_unk_token_id,
              "pad": writer.add_pad_token_id, "eot": writer.add_eot_token_id}
    for name, index in vocabulary.ids.items():
        adders[name](index)
    writer.add_add_bos_token(vocabulary.add_bos)
    writer.add_add_eos_token(vocabulary.add_eos)
    if vocabulary.chat_template:
        writer.add_chat_template(vocabulary.chat_template)


# ------------------------------------------------------------------------------------------------ the weights


def tensor_type(gguf_name: str, shape: tuple[int, ...], qtype):
    """(the ggml type this tensor is written in, why it is not `qtype`, or ""): 1-D tensors stay f32 as llama.cpp
    keeps them; a quantized type needs rows that are a whole number of its blocks, else f16."""
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType as Type

    if len(shape) == 1 or qtype in (Type.F32, Type.F16):
        return (Type.F32 if len(shape) == 1 else qtype), ""
    note = ""
    if qtype == Type.Q4_0 and gguf_name in KEPT_AT_8_BITS:
        qtype, note = Type.Q8_0, f"{gguf_name} kept at q8_0: the embedding and output lose most from 4 bits"
    block = GGML_QUANT_SIZES[qtype][0]
    if shape[-1] % block:
        return Type.F16, (f"{gguf_name} kept at f16: its rows of {shape[-1]} values are not a whole number of "
                          f"{qtype.name.lower()}'s blocks of {block}")
    return qtype, note


def tensor_bytes(shape: tuple[int, ...], qtype) -> int:
    from gguf import GGML_QUANT_SIZES

    block, size = GGML_QUANT_SIZES[qtype]
    return int(np.prod(shape[:-1], dtype=np.int64)) * (shape[-1] // block) * size


def plan_tensors(weights: list[Path], config, arch: str, qtype) -> dict:
    """transformers name -> (gguf name, shape, ggml type, note), read from the files' headers only."""
    from gguf import MODEL_ARCH_NAMES, get_tensor_name_map
    from safetensors import safe_open

    names = get_tensor_name_map(next(key for key, name in MODEL_ARCH_NAMES.items() if name == arch),
                                config.num_hidden_layers)
    plan = {}
    for path in weights:
        with safe_open(path, framework="pt") as handle:
            for name in handle.keys():
                if name.endswith("rotary_emb.inv_freq") or (name == "lm_head.weight" and config.tie_word_embeddings):
                    continue  # recomputed by llama.cpp; a tied output is the embedding itself
                gguf_name = names.get_name(name, try_suffixes=(".weight", ".bias"))
                if gguf_name is None:
                    raise ValueError(f"The model holds a tensor GGUF has no name for: {name}. {OTHER_TOOL}")
                shape = tuple(handle.get_slice(name).get_shape())
                plan[name] = (gguf_name, shape, *tensor_type(gguf_name, shape, qtype))
    return plan


def converted_tensors(weights: list[Path], plan: dict, config, arch: str):
    """Each planned tensor as float32 in llama.cpp's layout, with its ggml type, in the plan's order."""
    from safetensors import safe_open

    handles = [safe_open(path, framework="pt") for path in weights]
    where = {name: handle for handle in handles for name in handle.keys()}
    heads = config.num_attention_heads
    for name, (gguf_name, _, qtype, _) in plan.items():
        array = where[name].get_tensor(name).float().numpy()
        if arch in PERMUTED and ".attn_q." in gguf_name:
            array = permute(array, heads, heads)
        elif arch in PERMUTED and ".attn_k." in gguf_name:
            array = permute(array, heads, getattr(config, "num_key_value_heads", None) or heads)
        yield array, qtype


def permute(weights: np.ndarray, n_head: int, n_head_kv: int) -> np.ndarray:
    """llama.cpp's reordering of q/k rows (its rotary embedding rotates pairs of neighbours, transformers' halves)."""
    n_head = n_head_kv if n_head_kv is not None and n_head != n_head_kv else n_head
    return (weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
            .swapaxes(1, 2).reshape(weights.shape))


def gguf_summary(path: Path, quant: str) -> dict:
    """What a written file holds: its size, how many tensors of each type, and each tensor not in `quant` and why."""
    from gguf import GGUFReader

    qtype, counts, notes = quant_type(quant), {}, []
    for tensor in GGUFReader(path).tensors:
        kind = tensor.tensor_type.name.lower()
        counts[kind] = counts.get(kind, 0) + 1
        notes.append(tensor_type(tensor.name, tuple(int(n) for n in reversed(tensor.shape)), qtype)[1])
    return {"file": str(path), "quant": quant, "size_mb": round(Path(path).stat().st_size / 1e6, 1),
            "tensor_types": counts, "notes": [note for note in notes if note]}


# ------------------------------------------------------------------------------------------------ running it


TEMPLATE_FAMILIES = {
    "chatml": {"markers": ("<|im_start|>", "<|im_end|>"), "end": "<|im_end|>", "stop": ("<|im_start|>", "<|im_end|>"),
               "template": "{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}"
                           "<|im_start|>assistant\n",
               "system": re.compile(r"<\|im_start\|>system(?:\n|\\n)([^{}<]+?)<\|im_end\|>")},
    "llama3": {"markers": ("<|start_header_id|>", "<|eot_id|>"), "end": "<|eot_id|>",
               "stop": ("<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"),
               "template": "{{- range .Messages }}<|start_header_id|>{{ .Role }}<|end_header_id|>\n\n{{ .Content }}"
                           "<|eot_id|>{{ end }}<|start_header_id|>assistant<|end_header_id|>\n\n",
               "system": re.compile(r"<\|start_header_id\|>system<\|end_header_id\|>(?:\n\n|\\n\\n)([^{}<]+?)"
                                    r"<\|eot_id\|>")},
}


def template_family(chat_template: str | None) -> str | None:
    """"chatml" or "llama3" from the markers in a jinja chat template; None for any other."""
    for family, spec in TEMPLATE_FAMILIES.items():
        if chat_template and all(marker in chat_template for marker in spec["markers"]):
            return family
    return None


def modelfile(gguf_name: str, chat_template: str | None, stop: tuple[str, ...] | list[str] = (),
              settings: GenerationSettings = DEFAULTS) -> str:
    """An Ollama Modelfile for the file: FROM, the chat template in Ollama's Go-template syntax (with the default
    system prompt the jinja template gives), a stop line per end token and the studio's sampling defaults."""
    family = template_family(chat_template)
    lines = [f"FROM ./{gguf_name}", ""]
    if family is None:
        lines += ["# The chat template is neither ChatML nor Llama 3, so no TEMPLATE is written here: Ollama uses the",
                  "# template stored in the GGUF file (tokenizer.chat_template) when it recognises it. Check the",
                  "# prompt with `ollama show NAME --template`, and add a TEMPLATE line if it is not right.", ""]
        stops = list(stop)
    else:
        spec = TEMPLATE_FAMILIES[family]
        lines += [f'TEMPLATE """{spec["template"]}"""', ""]
        system = spec["system"].search(chat_template)
        lines += [f'SYSTEM """{system.group(1).strip()}"""', ""] if system else []
        stops = list(spec["stop"]) + list(stop)
    lines += [f"PARAMETER stop {json.dumps(token, ensure_ascii=False)}" for token in dict.fromkeys(stops)]
    lines += [f"PARAMETER temperature {settings.temperature:g}", f"PARAMETER top_p {settings.top_p:g}",
              f"PARAMETER top_k {settings.top_k}", f"PARAMETER repeat_penalty {settings.repetition_penalty:g}"]
    return "\n".join(lines) + "\n"


def run_commands(gguf_path: Path) -> list[str]:
    """The two ways to run the file: Ollama, with the Modelfile beside it, and llama.cpp's chat."""
    gguf_path = Path(gguf_path)
    name = re.sub(r"[^a-z0-9._-]+", "-", gguf_path.stem.lower()).strip("-._") or "studio-model"  # as Ollama allows
    return [f"cd {shlex.quote(str(gguf_path.parent))} && ollama create {name} -f Modelfile && ollama run {name}",
            f"llama-cli -m {shlex.quote(str(gguf_path))} -cnv"]


def export_run_gguf(run_dir: str | Path, quant: str = "q8_0") -> dict:
    """A run's model (its adapter merged into the base first) as exports/<run>-gguf-<quant>/: the .gguf file and
    its Modelfile, written whole or not at all; returns the file, the Modelfile, the commands and the summary."""
    import shutil
    import tempfile

    from transformers import AutoTokenizer

    from studio.export import export_run
    from studio.workspace import exports_dir, inside, replace_folder, safe_name

    run_dir = Path(run_dir)
    quant_type(quant)
    target = inside(exports_dir(), safe_name(f"{run_dir.name}-gguf-{quant}"))
    staging = target.with_name(f".{target.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        # The merged folder is only a step on the way: written beside the export, removed once the file is written.
        with tempfile.TemporaryDirectory(dir=exports_dir(), prefix=".merge-") as scratch:
            merged = export_run(run_dir, Path(scratch) / "model", merge=True)
            gguf_file = write_gguf(merged, staging / f"{safe_name(run_dir.name)}.{quant}.gguf", quant)
            tokenizer = AutoTokenizer.from_pretrained(merged)
        template = tokenizer.chat_template if isinstance(tokenizer.chat_template, str) else None
        eos = [tokenizer.eos_token] if tokenizer.eos_token else []
        (staging / "Modelfile").write_text(modelfile(gguf_file.name, template, eos), encoding="utf-8")
        replace_folder(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    path = target / gguf_file.name
    return {"gguf": path, "modelfile": target / "Modelfile", "commands": run_commands(path),
            "summary": gguf_summary(path, quant)}
