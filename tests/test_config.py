"""Config loading: defaults < preset TOML < dotted overrides, with typed coercion and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from omnisage.config import Config, load_config, parse_overrides
from omnisage.errors import OmniSageError


def test_defaults_then_toml_then_overrides(tmp_path: Path) -> None:
    preset = tmp_path / "mine.toml"
    preset.write_text('[synth]\npins = 500\nlanguages = ["en", "fr"]\n')
    assert load_config().synth == Config().synth
    cfg = load_config(preset, ["synth.seed=3", "synth.languages=en,de,es"])
    assert (cfg.synth.pins, cfg.synth.seed, cfg.synth.languages) == (500, 3, ("en", "de", "es"))


def test_override_errors_are_one_line() -> None:
    with pytest.raises(OmniSageError, match=r"unknown setting 'synth.pinz'"):
        load_config(None, ["synth.pinz=3"])
    with pytest.raises(OmniSageError, match=r"config synth.pins: expected int, got 'lots'"):
        load_config(None, ["synth.pins=lots"])
    with pytest.raises(OmniSageError, match=r"--set expects section.field=value"):
        parse_overrides(["synth.pins"])
    with pytest.raises(OmniSageError, match=r"unknown config preset 'nope'"):
        load_config("nope")
