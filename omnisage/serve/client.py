"""`omnisage search`: ask a running service for pins, products and related queries, and print them readably.

Standard library only (urllib), so any machine with omnisage can query a service. Titles come from the
data directory when one is given; otherwise only ids and scores are shown.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pyarrow.compute as pc

from omnisage.data.io import find_table, read_table
from omnisage.errors import OmniSageError
from omnisage.schema import TABLES


def titles(world_dir: str | Path | None) -> dict[tuple[str, str], str]:
    """(entity type, id) -> title, for the pins and products of a data directory."""
    if world_dir is None:
        return {}
    out: dict[tuple[str, str], str] = {}
    for kind, name in (("pin", "pins"), ("product", "products")):
        path = find_table(world_dir, name)
        if path is None:
            continue
        table = read_table(path, TABLES[name]).select([f"{kind}_id", "title", "caption"])
        text = pc.coalesce(table.column("title"), table.column("caption"), "")
        out.update(((kind, i), t) for i, t in zip(table.column(0).to_pylist(), text.to_pylist()))
    return out


def wait_until_up(url: str, timeout_s: float) -> None:
    """Poll /healthz until the service answers (it may still be loading or exporting its encoder)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(f"{url.rstrip('/')}/healthz", timeout=2):
                return
        except (urllib.error.URLError, OSError):
            if time.monotonic() >= deadline:
                raise OmniSageError(
                    f"the service at {url} did not come up within {timeout_s:.0f} s"
                ) from None
            time.sleep(0.5)


def search(url: str, query: str, k: int, types: str | None = None, timeout_s: float = 10) -> dict[str, Any]:
    params = {"q": query, "k": str(k)} | ({"type": types} if types else {})
    full = f"{url.rstrip('/')}/v1/search?{urllib.parse.urlencode(params)}"
    try:
        with urllib.request.urlopen(full, timeout=timeout_s) as response:
            return json.load(response)
    except urllib.error.HTTPError as exc:
        detail = json.loads(exc.read() or b"{}").get("error", exc.reason)
        raise OmniSageError(f"{url}: {exc.code} {detail}") from None
    except urllib.error.URLError as exc:
        raise OmniSageError(
            f"cannot reach the service at {url} ({exc.reason}); start it with omnisage serve"
        ) from None


def format_results(result: dict[str, Any], names: dict[tuple[str, str], str]) -> str:
    """One line per hit: the first stage's score, the student's relevance when it re-ranked, id, title."""
    student = f", student {result['student']}" if "student" in result else ""
    lines = [f"query: {result['query']!r}  (model {result['model_version']}{student})"]
    for kind, hits in result["results"].items():
        lines.append(f"  {kind}:")
        for hit in hits:
            label = names.get((kind, hit["id"]), "") if kind != "query" else ""
            relevance = f"  relevance {hit['relevance']:.2f}" if "relevance" in hit else ""
            lines.append(f"    {hit['score']:+.3f}{relevance}  {hit['id']:<14} {label[:70]}".rstrip())
    return "\n".join(lines)
