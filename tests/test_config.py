"""RunConfig: defaults, presets as overrides, CLI strings typed, and settings that cannot work refused."""

from __future__ import annotations

import pytest

from studio.config import RunConfig, from_dict, help_text, load_config, parse_overrides, preset_path

REQUIRED_FIELDS = (
    "base_model method stage dataset validation_split epochs max_steps learning_rate batch_size "
    "gradient_accumulation cutoff_length lora_rank lora_alpha lora_dropout target_modules num_virtual_tokens "
    "trainable_layers seed output_dir eval_steps probe_prompts"
).split()


def test_every_required_setting_exists_with_help():
    config = RunConfig()
    for name in REQUIRED_FIELDS:
        assert hasattr(config, name)
        assert help_text(name)


def test_cli_strings_become_typed_values():
    config = from_dict(parse_overrides(["epochs=2", "learning_rate=5e-4", "train_on_prompt=yes", "batch_size=16",
                                        "probe_prompts=Who are you?||What is 2+2?"]))
    assert config.epochs == 2.0 and config.learning_rate == 5e-4 and config.train_on_prompt is True
    assert config.batch_size == 16 and config.probe_prompts == ["Who are you?", "What is 2+2?"]


@pytest.mark.parametrize("values, message", [
    ({"method": "lorax"}, "method 'lorax' is not one of"),
    ({"batch_size": 0}, "batch_size must be a number from 1 to 4096"),
    ({"learning_rate": -1}, "learning_rate"),
    ({"validation_split": 1.5}, "validation_split"),
    ({"dataset": ""}, "No dataset"),
])
def test_impossible_settings_are_refused(values, message):
    with pytest.raises(ValueError, match=message):
        from_dict({"dataset": "x.jsonl", **values}).validate()


def test_unknown_and_badly_typed_settings_name_the_key():
    with pytest.raises(ValueError, match="Unknown setting.*lora_rnak"):
        from_dict({"lora_rnak": 8})
    with pytest.raises(ValueError, match="batch_size must be a whole number"):
        from_dict({"batch_size": "eight"})
    with pytest.raises(ValueError, match="key=value"):
        parse_overrides(["epochs"])


def test_presets_hold_overrides_only_and_yaml_round_trips(tmp_path):
    config = load_config("cpu-lora", {"dataset": "data.jsonl"})
    assert config.epochs == 0 and config.method == "lora"  # 0: auto passes (studio/plan.py)
    path = tmp_path / "mine.yaml"
    path.write_text(config.to_yaml())
    assert load_config(str(path)) == config
    assert "epochs" in config.overrides() and "lora_rank" not in config.overrides()
    with pytest.raises(ValueError, match="No preset 'nope'"):
        preset_path("nope")


def command_config(command: str) -> RunConfig:
    """What `python -m studio train` builds from a command line (as in studio/__main__.py)."""
    import shlex

    from studio.__main__ import build_parser

    args = build_parser().parse_args(shlex.split(command)[3:])
    overrides = parse_overrides(args.set)
    overrides.update({key: value for key, value in (("dataset", args.dataset), ("output_dir", args.output)) if value})
    return load_config(args.preset, overrides)


@pytest.mark.parametrize("values", [
    {},
    {"epochs": 0, "learning_rate": 2e-3, "batch_size": 8, "cutoff_length": 256, "validation_split": 0.05,
     "eval_steps": 10, "save_steps": 10, "lora_dropout": 0.0, "max_steps": 7},
    {"method": "prefix-tuning", "num_virtual_tokens": 4, "train_on_prompt": True, "learning_rate": 1e-5,
     "probe_prompts": ["Who are you?", "it's 2+2"], "chat_template": "chatml", "output_dir": "/tmp/a run"},
])
def test_train_command_rebuilds_the_same_config(values):
    from studio.config import train_command

    config = from_dict({"dataset": "data set.jsonl", **values})
    command = train_command(config)
    assert command.startswith("python -m studio train ")
    assert command_config(command) == config
    if values.get("max_steps") == 7:
        # The closest preset carries the rest, so only what differs from it is spelled out.
        assert "--preset cpu-lora" in command and command.count("--set") == 1


def test_saved_preset_holds_overrides_only_and_never_replaces_a_shipped_one(workspace):
    from studio.config import save_preset

    config = load_config("cpu-lora", {"dataset": "data.jsonl", "lora_rank": 4})
    path = save_preset(config, "my lora")
    assert path == workspace / "presets" / "my-lora.yaml"
    assert path.read_text().startswith("# Saved from Tuning Studio")
    saved = yaml_keys(path)
    assert saved == set(config.overrides()) - {"dataset"}
    assert load_config("my-lora", {"dataset": "data.jsonl"}) == config
    save_preset(load_config(None, {"dataset": "data.jsonl", "epochs": 2}), "my-lora")
    assert yaml_keys(path) == {"epochs"}
    with pytest.raises(ValueError, match="ships with the studio"):
        save_preset(config, "cpu-lora")
    with pytest.raises(ValueError, match="name"):
        save_preset(config, "  ")
    # What runs on this machine is never carried by a saved preset.
    risky = load_config(None, {"dataset": "data.jsonl", "trust_remote_code": True, "base_model": "org/model"})
    assert yaml_keys(save_preset(risky, "risky")) == set()


def yaml_keys(path) -> set:
    import yaml

    return set(yaml.safe_load(path.read_text()) or {})


@pytest.mark.parametrize("name, value", [
    ("learning_rate", float("nan")), ("learning_rate", float("inf")), ("epochs", float("nan")), ("epochs", 1e9),
    ("weight_decay", float("-inf")), ("warmup_ratio", 2.0), ("max_grad_norm", float("nan")),
    ("preference_beta", float("nan")), ("lora_dropout", 1.0), ("seed", -1), ("max_steps", 10**12),
])
def test_numbers_are_finite_and_bounded_and_the_message_names_the_setting_and_its_range(name, value):
    with pytest.raises(ValueError, match=rf"{name} must be a number from \S+ to \S+"):
        from_dict({"dataset": "x.jsonl", name: value}).validate()


@pytest.mark.parametrize("value", [float("nan"), float("inf"), "1e400", 2.5])
def test_whole_number_settings_refuse_what_is_not_a_whole_number_with_a_message(value):
    with pytest.raises(ValueError, match="batch_size must be a whole number"):
        from_dict({"batch_size": value})


def test_the_heldout_evaluation_is_off_by_default_bounded_and_refused_where_it_cannot_work(tmp_path):
    defaults = RunConfig()
    assert (defaults.heldout, defaults.heldout_rows) == ("", 40) and help_text("heldout") and help_text("heldout_rows")
    assert all("heldout" not in load_config(preset, {"dataset": "x.jsonl"}).overrides()
               for preset in ("cpu-lora", "cpu-dpo", "cpu-rm"))
    config = from_dict({"dataset": "x.jsonl", "heldout": "validation", "heldout_rows": "12"}).validate()
    path = tmp_path / "run.yaml"
    path.write_text(config.to_yaml())
    assert load_config(str(path)) == config and config.heldout_rows == 12
    from_dict({"dataset": "x.jsonl", "stage": "dpo", "heldout": "test.jsonl"}).validate()
    refusals = [
        ({"heldout_rows": 0}, r"heldout_rows must be a number from 1 to 10000"),
        ({"heldout": "validation", "stage": "dpo"}, "needs rows with reference answers"),
        ({"heldout": "validation", "validation_split": 0}, "needs validation rows"),
        ({"heldout": "test.jsonl", "stage": "rm"}, "writes no answers"),
    ]
    for values, message in refusals:
        with pytest.raises(ValueError, match=message):
            from_dict({"dataset": "x.jsonl", **values}).validate()
    from_dict({"dataset": "x.jsonl", "heldout": "validation", "validation_split": 0,
               "validation_dataset": "v.jsonl"}).validate()
