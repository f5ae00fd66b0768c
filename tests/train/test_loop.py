"""The loop: overfits 32 pairs in seconds; a resumed run reproduces the uninterrupted one bit for bit."""

from __future__ import annotations

import json
import time
from dataclasses import replace

import pytest
import torch
from train_toys import one_to_one_world, setup

from omnisage.config import TrainConfig, load_config
from omnisage.errors import OmniSageError
from omnisage.model.precision import autocast_dtype
from omnisage.train.loop import fit


@pytest.mark.parametrize("negatives", [4, 0], ids=["random_negatives", "in_batch_only"])
def test_overfits_32_pairs_to_near_zero_loss_in_seconds(tmp_path, negatives):
    train = TrainConfig(
        batch_size=32,
        mix={"pin": 1.0, "product_onsite": 0, "product_offsite": 0, "query": 0},
        towers=("entity",),
        negatives_per_pair=negatives,
        sketch_width=1 << 12,
        lr=1e-2,
        warmup_steps=5,
        steps=150,
        log_every=1,
        checkpoint_every=1000,
    )
    objective, builder = setup(train, world=one_to_one_world(32))
    assert len(builder.plan.pairs["pin"].query_ids) == 32
    began = time.perf_counter()
    result = fit(objective, builder, train, tmp_path, progress=False)
    assert time.perf_counter() - began < 30
    first = json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[0])
    assert first["loss"] > 2.0
    assert result.last_losses["total"] < 0.05


def _train(tmp_path, steps: int, **kw):
    return TrainConfig(
        batch_size=16,
        sketch_width=1 << 10,
        steps=steps,
        warmup_steps=2,
        log_every=1,
        checkpoint_every=3,
        lr=3e-3,
        **kw,
    )


def test_resume_reproduces_the_uninterrupted_run(tmp_path):
    train = _train(tmp_path, steps=7)
    objective, builder = setup(train, dropout=0.2)  # dropout: the RNG state must be restored too
    torch.manual_seed(123)
    fit(objective, builder, train, tmp_path / "straight", progress=False)

    first, builder1 = setup(train, dropout=0.2)
    torch.manual_seed(123)
    part = fit(first, builder1, train, tmp_path / "resumed", progress=False, stop_after=4)
    assert part.steps == 4
    torch.manual_seed(999)  # a different process state: the checkpoint must restore everything
    second, builder2 = setup(train, seed=5, dropout=0.2)
    result = fit(second, builder2, train, tmp_path / "resumed", progress=False)
    assert result.resumed_from == 4 and result.steps == 7

    straight, resumed = objective.state_dict(), second.state_dict()
    assert straight.keys() == resumed.keys()
    for key in straight:
        assert torch.equal(straight[key], resumed[key]), key

    def losses(path):
        return [json.loads(line)["loss"] for line in (path / "metrics.jsonl").read_text().splitlines()]

    assert losses(tmp_path / "straight") == losses(tmp_path / "resumed")
    assert len(losses(tmp_path / "resumed")) == 7


def test_resume_under_other_model_settings_is_refused(tmp_path):
    """Checkpoints carry the model settings: continuing them for a differently configured model would hand
    back weights trained for the old one under the new config."""
    train = _train(tmp_path, steps=6)
    objective, builder = setup(train)
    fit(objective, builder, train, tmp_path, progress=False, stop_after=3, settings={"dim": 8, "scale": "a"})
    again, builder2 = setup(train)
    with pytest.raises(OmniSageError, match=r"other model settings \(model\.scale: 'a' -> 'b'\)"):
        fit(again, builder2, train, tmp_path, progress=False, settings={"dim": 8, "scale": "b"})
    result = fit(again, builder2, train, tmp_path, progress=False, settings={"dim": 8, "scale": "a"})
    assert result.resumed_from == 3 and result.steps == 6


def test_bf16_autocast_trains_with_float32_logits(tmp_path):
    train = _train(tmp_path, steps=3, precision="bf16")
    objective, builder = setup(train)
    result = fit(objective, builder, train, tmp_path, progress=False)
    assert result.steps == 3 and all(torch.isfinite(torch.tensor(v)) for v in result.last_losses.values())
    assert all(
        p.dtype == torch.float32 for p in objective.parameters()
    )  # autocast, not a cast of the weights
    assert result.precision == "bf16"


@pytest.mark.parametrize("native", [True, False])
def test_auto_precision_is_bf16_only_on_a_cpu_that_computes_it_natively(monkeypatch, native):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: native, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    cpu = torch.device("cpu")
    assert autocast_dtype("auto", cpu) == (torch.bfloat16 if native else None)
    assert autocast_dtype("fp32", cpu) is None and autocast_dtype("bf16", cpu) == torch.bfloat16
    with pytest.raises(OmniSageError, match=r"train\.precision: 'fp16' is not one of"):
        load_config(None, ["train.precision=fp16"])  # checked where the config is built


def test_a_checkpoint_that_cannot_be_written_is_one_clear_error(tmp_path, monkeypatch):
    from omnisage.train import checkpoint

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoint, "save_file", disk_full)
    with pytest.raises(
        OmniSageError, match=r"could not write checkpoint .*step-00000007\.safetensors \(\d+ MiB free"
    ):
        checkpoint.save_checkpoint(tmp_path, 7, {"w": torch.zeros(2)}, is_main=True)
    assert list(tmp_path.iterdir()) == []  # no partial file left behind


def test_a_non_finite_loss_stops_training_naming_the_step(tmp_path):
    """A loss of NaN used to train on (and checkpoint) a model of NaNs, exiting 0."""
    train = _train(tmp_path, steps=6)
    objective, builder = setup(train)

    def poisoned(step: int, rank: int):
        if step == 3:  # the 4th step: the temperature turns into NaN
            with torch.no_grad():
                objective.loss.log_scale.fill_(float("nan"))
        return builder(step, rank)

    with pytest.raises(OmniSageError, match=r"training diverged: the loss is not finite at step 4;"):
        fit(objective, poisoned, replace(train, checkpoint_every=3), tmp_path, progress=False)
    assert [p.name for p in sorted((tmp_path / "checkpoints").iterdir())] == ["step-00000003.safetensors"]
