"""The command line's contract for what goes wrong outside the code: an output that cannot be written or an embed
part cut short is one line (`omnisage CMD: error: ...` naming the path), exit 2, never a traceback.

Outputs are provoked portably (tests may run as root, where a read-only folder still takes writes): a folder
under /proc, where nothing can be created, and a path through a file, where a folder is expected.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from omnisage.cli import main

from .infer.bundle_fixture import make_tiny_bundle


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cli")
    assert (
        main(["synth", "--out", str(root / "world"), "--scale", "200", "--seed", "1", "--config", "tiny"])
        == 0
    )
    (root / "a-file").write_text("not a folder")
    return root


def _bad_outputs(root: Path) -> list[Path]:
    return [Path("/proc/omnisage-test/out"), root / "a-file" / "out"]


def _one_line_error(capsys, command: str, path: Path) -> str:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    assert err.startswith(f"omnisage {command}: error: ") and str(path) in err, err
    return err


def test_enrich_and_train_report_an_unwritable_output_in_one_line(world: Path, capsys) -> None:
    data = str(world / "world")
    for out in _bad_outputs(world):
        assert (
            main(["enrich", "--data", data, "--as-of", "2024-06-01", "--out", str(out), "--no-progress"]) == 2
        )
        _one_line_error(capsys, "enrich", out)
        argv = ["train", "--data", data, "--out", str(out), "--config", "tiny", "--set", "train.steps=2"]
        assert main([*argv, "--no-progress"]) == 2
        _one_line_error(capsys, "train", out)


def test_embed_and_index_report_an_unwritable_output_and_a_truncated_part(world: Path, capsys) -> None:
    bundle = make_tiny_bundle(world / "bundle")
    capsys.readouterr()  # the bundle writer's progress
    queries = ["--model", str(bundle), "--queries", str(world / "world"), "--no-progress"]
    for out in _bad_outputs(world):
        assert main(["embed", *queries, "--out", str(out)]) == 2
        _one_line_error(capsys, "embed", out)
    embeddings = world / "embeddings"
    assert main(["embed", *queries, "--out", str(embeddings)]) == 0
    for out in _bad_outputs(world):
        assert main(["index", "--embeddings", str(embeddings), "--out", str(out), "--no-progress"]) == 2
        _one_line_error(capsys, "index", out)

    part = embeddings / "queries" / "part-00000.parquet"
    part.write_bytes(
        part.read_bytes()[: part.stat().st_size // 2]
    )  # cut short, as a full disk or a copy would
    assert main(["index", "--embeddings", str(embeddings), "--out", str(world / "idx"), "--no-progress"]) == 2
    assert "not a readable Parquet part" in _one_line_error(capsys, "index", part)
    assert main(["embed", *queries, "--out", str(embeddings)]) == 2  # the resume reads it too
    assert "delete it and rerun omnisage embed" in _one_line_error(capsys, "embed", part)
