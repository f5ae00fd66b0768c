"""`omnisage serve`: load the query encoder, the index set and (optionally) the relevance student, then run
the HTTP API under uvicorn.

One process, one event loop (uvloop + httptools), one encoder thread; scale out with more replicas behind
a load balancer sharing the Redis tier. The query encoder is the exported ONNX model by default
(`serve.encoder`), exported on first use next to the bundle.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omnisage.config import RelevanceConfig, ServeConfig
from omnisage.errors import MissingExtraError, OmniSageError
from omnisage.index.catalog import IndexSet
from omnisage.serve.admin import TOKEN_ENV, admin_token
from omnisage.serve.rerank import Reranker, load_reranker
from omnisage.serve.service import QueryEmbedder, QueryService, check_matches

CANDIDATES = RelevanceConfig.rerank_candidates  # the default of relevance.rerank_candidates
Parts = tuple[QueryEmbedder, IndexSet | None, Reranker | None]  # what one snapshot of the service serves


class TorchQueryEmbedder:
    """The bundle's PyTorch query encoder behind the `QueryEmbedder` interface (the reference path)."""

    def __init__(self, model: Any):
        self.model, self.version, self.dim = model, model.version, int(model.config.dim)
        self.variant = "torch"

    def encode_queries(self, queries: list[str]) -> Any:
        return self.model.encode_queries(queries)


def load_query_embedder(model_dir: str | Path, config: ServeConfig) -> QueryEmbedder:
    """The model bundle's query encoder, as configured: exported ONNX (int8 or fp32) or plain PyTorch."""
    from omnisage.model.bundle import load_model

    return query_embedder(load_model(model_dir), model_dir, config)


def query_embedder(model: Any, model_dir: str | Path, config: ServeConfig) -> QueryEmbedder:
    """`model` (loaded from `model_dir`) as the configured encoder; ONNX exports it on first use."""
    if config.encoder == "torch":
        import torch

        torch.set_num_threads(config.threads)
        return TorchQueryEmbedder(model)
    from omnisage.infer.export import OnnxQueryEncoder, ensure_exported

    int8 = config.encoder == "onnx-int8"
    return OnnxQueryEncoder(ensure_exported(model, model_dir, int8=int8), int8=int8, threads=config.threads)


def load_parts(
    model_dir: str | Path, index_dir: str | Path | None, config: ServeConfig,
    student_dir: str | Path | None = None, candidates: int = CANDIDATES,
) -> Parts:  # fmt: skip
    """(query embedder, index set or None, re-ranker or None): what one snapshot of the service serves.

    Everything is read and checked before the ONNX export writes into the bundle: a rejected reload leaves
    the model folder as it was."""
    from omnisage.model.bundle import load_model

    indexes = IndexSet.load(index_dir, config.ef_search) if index_dir is not None else None
    model = load_model(model_dir)
    check_matches(model.version, int(model.config.dim), indexes)
    reranker = None
    if student_dir is not None:
        if indexes is None or index_dir is None:
            raise OmniSageError("--student re-ranks search results: it needs --indexes")
        legacy_dim = int(model.config.legacy_dim)
        reranker = load_reranker(student_dir, indexes, index_dir, model.version, legacy_dim, candidates)
    return query_embedder(model, model_dir, config), indexes, reranker


def run_server(service: QueryService, config: ServeConfig, reloader: Any = None) -> None:
    """Serve until interrupted (blocking)."""
    try:
        import uvicorn
    except ImportError:
        raise MissingExtraError("uvicorn", "serve") from None
    from omnisage.serve.app import create_app

    app = create_app(service, reloader)
    uvicorn.run(
        app,
        host=config.host,
        port=config.port,
        loop="uvloop",
        http="httptools",
        access_log=False,  # one log line per request would cost more than a cache hit
        log_level="warning",
        lifespan="on",
    )


def make_reloader(
    model_dir: str | Path, index_dir: str | Path | None, config: ServeConfig,
    student_dir: str | Path | None = None, candidates: int = CANDIDATES,
) -> Any:  # fmt: skip
    """The hot-swap loader: `{"model": DIR, "indexes": DIR, "student": DIR}` (each optional) -> new parts.

    Omitted paths default to the ones last loaded, so publishing a new bundle, index set or student in place
    and posting `{}` reloads it; the student's item features are rebuilt from whichever index set loads.
    """
    fields = ("model", "indexes", "student")
    current = {
        name: str(path) if path is not None else None
        for name, path in zip(fields, (model_dir, index_dir, student_dir))
    }

    def reloader(spec: dict[str, Any]) -> Parts:
        unknown = set(spec) - set(fields)
        if unknown:
            raise OmniSageError(f"unknown reload fields {sorted(unknown)} (use {', '.join(fields)})")
        if not all(isinstance(v, str | None) for v in spec.values()):
            raise OmniSageError(f"reload fields {', '.join(fields)} must be folder paths (strings)")
        wanted = {**current, **{k: v for k, v in spec.items() if v is not None}}
        # Checked: model and indexes match, and the student reads what they give.
        parts = load_parts(wanted["model"], wanted["indexes"], config, wanted["student"], candidates)
        current.update(wanted)  # only a reload that loaded changes what a later {} reloads
        return parts

    return reloader


def serve(
    model_dir: str | Path, index_dir: str | Path | None, config: ServeConfig,
    student_dir: str | Path | None = None, candidates: int = CANDIDATES,
) -> None:  # fmt: skip
    """Load, then serve; `POST /v1/admin/reload {"model": DIR, "indexes": DIR, "student": DIR}` (with the
    admin token) swaps them without downtime."""
    embedder, indexes, reranker = load_parts(model_dir, index_dir, config, student_dir, candidates)
    service = QueryService(embedder, indexes, config, reranker=reranker)
    admin = "on" if admin_token(config) else f"off (set {TOKEN_ENV} to enable)"
    print(
        f"omnisage serve: model {service.snapshot.served} on http://{config.host}:{config.port}; "
        f"POST /v1/admin/reload {admin}",
        flush=True,
    )
    run_server(service, config, make_reloader(model_dir, index_dir, config, student_dir, candidates))
