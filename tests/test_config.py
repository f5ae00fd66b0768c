"""Config loading: defaults < preset TOML < dotted overrides, with typed coercion and clear errors."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from omnisage.config import Config, load_config, parse_overrides
from omnisage.errors import OmniSageError


def test_defaults_then_toml_then_overrides(tmp_path: Path) -> None:
    preset = tmp_path / "mine.toml"
    preset.write_text("[synth]\npins = 500\n\n[eval]\ncurve_sizes = [10, 100]\n")
    assert load_config().synth == Config().synth
    cfg = load_config(preset, ["synth.seed=3", "eval.curve_sizes=5,50,500"])
    assert (cfg.synth.pins, cfg.synth.seed, cfg.eval.curve_sizes) == (500, 3, (5, 50, 500))


def test_override_errors_are_one_line() -> None:
    with pytest.raises(OmniSageError, match=r"unknown setting 'synth.pinz'"):
        load_config(None, ["synth.pinz=3"])
    with pytest.raises(OmniSageError, match=r"config synth.pins: expected int, got 'lots'"):
        load_config(None, ["synth.pins=lots"])
    with pytest.raises(OmniSageError, match=r"--set expects section.field=value"):
        parse_overrides(["synth.pins"])
    with pytest.raises(OmniSageError, match=r"unknown config preset 'nope'"):
        load_config("nope")


def test_one_spark_section_and_the_old_keys_name_it(tmp_path: Path) -> None:
    """enrich and embed used to carry a Spark master each; [spark] is the one place now."""
    spark = load_config(None, ["spark.master=spark://head:7077", "spark.shuffle_partitions=64"]).spark
    assert (spark.master, spark.driver_memory, spark.shuffle_partitions) == ("spark://head:7077", "4g", 64)
    with pytest.raises(OmniSageError, match=r"^config: 'infer\.spark_master' is now 'spark\.master'"):
        load_config(None, ["infer.spark_master=local[4]"])
    preset = tmp_path / "old.toml"
    preset.write_text("[enrich]\nspark_shuffle_partitions = 16\n")
    with pytest.raises(
        OmniSageError, match=r"'enrich\.spark_shuffle_partitions' is now 'spark\.shuffle_part"
    ):
        load_config(preset)


def test_the_default_preset_is_the_code_default() -> None:
    """Defaults live in config.py only: default.toml holds no value."""
    assert Config() == load_config("default")
    for preset in ("tiny", "bench", "paper"):
        load_config(preset)  # every preset builds


def test_choices_are_checked_where_the_config_is_built() -> None:
    with pytest.raises(OmniSageError, match=r"config train\.optimizer: 'sgd' is not one of 'adamw', 'lamb'"):
        load_config(None, ["train.optimizer=sgd"])
    with pytest.raises(OmniSageError, match=r"config train\.towers: 'bert' is not one of 'entity'"):
        load_config(None, ["train.towers=entity,bert"])
    assert load_config(None, ["serve.encoder=torch"]).serve.encoder == "torch"


def test_the_scratch_encoder_is_a_table() -> None:
    preset_shape = load_config("tiny").model.scratch
    assert (preset_shape.layers, preset_shape.hidden, preset_shape.heads) == (2, 64, 2)
    shape = load_config("tiny", ["model.scratch.layers=4", "model.scratch.heads=4"]).model.scratch
    assert (shape.layers, shape.hidden, shape.heads) == (4, 64, 4)
    with pytest.raises(
        OmniSageError, match=r"model\.scratch: hidden \(64\) must be a multiple of heads \(3\)"
    ):
        load_config("tiny", ["model.scratch.heads=3"])
    with pytest.raises(OmniSageError, match=r"'model\.scratch' is a section"):
        load_config(None, ["model.scratch=big"])


def test_cross_field_rules_hold_on_every_construction() -> None:
    with pytest.raises(OmniSageError, match=r"prefix_dims and train\.prefix_weights"):
        load_config(None, ["train.prefix_dims=16,32", "train.prefix_weights=1"])
    with pytest.raises(OmniSageError, match=r"entity_text_fields: engaged_queries"):
        dataclasses.replace(Config().model, entity_text_fields=("title", "engaged_queries"))
    with pytest.raises(OmniSageError, match=r"bench\.hybrid_weight must be >= 0"):
        load_config(None, ["bench.hybrid_weight=-1"])


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "NaN"])
def test_non_finite_numbers_are_refused_for_every_float_setting(value: str) -> None:
    """`--set train.lr=nan` used to train a model of NaNs and exit 0."""
    with pytest.raises(OmniSageError, match=rf"config train\.lr: expected a finite number, got '{value}'"):
        load_config(None, [f"train.lr={value}"])
    with pytest.raises(OmniSageError, match=r"config train\.query_lr: expected a finite number"):
        load_config(None, [f"train.query_lr={value}"])  # float | None
    with pytest.raises(OmniSageError, match=r"config train\.mix\.pin: expected a finite number"):
        load_config(None, [f"train.mix.pin={value}"])  # a table of floats


def test_non_finite_numbers_in_a_toml_preset_are_refused(tmp_path: Path) -> None:
    preset = tmp_path / "bad.toml"
    preset.write_text("[serve]\ncache_ttl_days = inf\n")
    with pytest.raises(OmniSageError, match=r"config serve\.cache_ttl_days: expected a finite number"):
        load_config(preset)


def test_cli_reports_a_non_finite_setting_in_one_line(capsys) -> None:
    from omnisage.cli import main

    assert main(["train", "--data", "nowhere", "--out", "nowhere", "--set", "train.lr=nan"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "omnisage train: error: config train.lr: expected a finite number, got 'nan'"
