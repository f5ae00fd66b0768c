"""The search page in a real browser (Debian's headless chromium via Playwright) against a live `omnisage serve`.

The world, its enrichment, the model, embeddings and indexes come from the real commands on a 600-pin synthetic
world (`train --config tiny`, conftest's `small_world`), and so does the relevance student of the re-ranking
checks (`omnisage relevance` with a tiny teacher): the page is checked end to end, nothing mocked. Also the API
the page uses: `/v1/search?fields=` and `/v1/items/{type}/{id}`.

The README's screenshot is of the demo's model: `make demo`, `make serve`, then in another shell
`OMNISAGE_PAGE_URL=http://127.0.0.1:8765/ OMNISAGE_PAGE_SCREENSHOT=docs/search-page.png pytest tests/serve/test_page.py
-k screenshot`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from .conftest import free_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
QUERY = "blue sofa"

pytestmark = pytest.mark.slow


def start_serve(root: Path, *extra: str) -> tuple[subprocess.Popen, str]:
    """`omnisage serve` on the small world's model and indexes in a second process, once /healthz answers."""
    port = free_port()
    cmd = [sys.executable, "-m", "omnisage.cli", "serve", "--model", str(root / "run" / "model")]
    cmd += ["--indexes", str(root / "idx"), "--port", str(port), "--config", "tiny"]
    cmd += ["--set", "serve.encoder=torch", *extra]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(url + "/healthz", timeout=1).read()
            return proc, url
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise AssertionError(f"server did not start: {proc.communicate()[1][-2000:]}") from None
            time.sleep(0.2)


@pytest.fixture(scope="session")
def served(small_world) -> Iterator[str]:
    """A live service on the small world built by the pipeline's commands; yields its base URL."""
    proc, url = start_serve(small_world)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(scope="session")
def served_student(small_world, small_student) -> Iterator[str]:
    """The same service with the relevance student trained on the small world (`--student`)."""
    proc, url = start_serve(small_world, "--student", str(small_student))
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_search_fields_and_items_api(served) -> None:
    status, ids_only = get(f"{served}/v1/search?q={quote(QUERY)}&k=3")
    assert status == 200 and "item" not in ids_only["results"]["pin"][0]
    assert set(ids_only) == {"model_version", "query", "k", "results"}  # the hot path's body, unchanged
    _, some = get(f"{served}/v1/search?q={quote(QUERY)}&k=3&fields=title,caption")
    assert some["cached"] is True and some["took_ms"] > 0  # the first search cached the query embedding
    assert [h["id"] for h in some["results"]["pin"]] == [h["id"] for h in ids_only["results"]["pin"]]
    assert set(some["results"]["pin"][0]["item"]) == {"title", "caption"}
    assert set(some["results"]["query"][0]["item"]) == set()  # a query has neither field
    _, everything = get(f"{served}/v1/search?q={quote(QUERY)}&k=3&fields=all&type=legacy_pin,query")
    pin = everything["results"]["legacy_pin"][0]
    assert {"title", "caption", "board_titles", "engaged_queries", "image_ref", "lang"} <= set(pin["item"])
    related = everything["results"]["query"][0]
    assert related["item"]["text"] == related["id"] and isinstance(related["item"]["volume"], int)
    status, item = get(f"{served}/v1/items/pin/{pin['id']}")
    assert status == 200 and item["item"] == pin["item"] and item["type"] == "pin"
    status, item = get(f"{served}/v1/items/query/{quote(related['id'])}")
    assert status == 200 and item["item"]["text"] == related["id"]
    assert get(f"{served}/v1/items/pin/no-such-pin")[0] == 404
    assert get(f"{served}/v1/items/board/b1")[0] == 404
    status, bad = get(f"{served}/v1/search?q=sofa&fields=title,colour")
    assert status == 400 and "unknown field 'colour'" in bad["error"]


@pytest.fixture(scope="module")
def browser(tmp_path_factory) -> Iterator[object]:
    if not CHROMIUM.is_file():
        pytest.skip("chromium is not installed (/usr/bin/chromium): `make system` installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),  # a fresh --user-data-dir
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900},
        )
        yield context
        context.close()


@pytest.fixture
def page(browser, served) -> Iterator[object]:
    page = browser.new_page()
    page.set_default_timeout(20_000)
    page.goto(served + "/")
    yield page
    page.close()


def ids(page, kind: str) -> list[str]:
    return page.locator(f'li[data-type="{kind}"]').evaluate_all("els => els.map(e => e.dataset.id)")


def search_by_typing(page, text: str) -> None:
    page.fill("#q", text)
    page.press("#q", "Enter")


def test_type_a_query_and_see_pins_products_and_related_queries(page, tmp_path) -> None:
    search_by_typing(page, QUERY)
    page.wait_for_selector(f'#results[data-query="{QUERY}"]')
    for kind in ("pin", "product", "query"):
        assert len(ids(page, kind)) == 10, kind
    assert "q=blue+sofa" in page.url or "q=blue%20sofa" in page.url
    assert "model" in page.inner_text("#stats") and " ms" in page.inner_text("#stats")
    page.screenshot(path=str(tmp_path / "search-page.png"), full_page=False)
    assert (tmp_path / "search-page.png").stat().st_size > 10_000


def test_clicking_a_related_query_searches_it(page) -> None:
    search_by_typing(page, QUERY)
    page.wait_for_selector(f'#results[data-query="{QUERY}"]')
    before = ids(page, "query")
    related = page.locator('li[data-type="query"]').first
    text = related.get_attribute("data-id")
    related.locator("button.title").click()
    page.wait_for_selector(f'#results[data-query="{text}"]')
    assert quote(text).replace("%20", "+") in page.url.replace("%20", "+")
    # The related queries are re-ranked for the new query (pins may stay the same on the tiny model).
    assert page.input_value("#q") == text and ids(page, "query") != before
    page.go_back()  # the previous search comes back from the URL
    page.wait_for_selector(f'#results[data-query="{QUERY}"]')


def test_open_an_items_detail(page) -> None:
    page.goto(page.url.split("?")[0] + "?q=" + quote(QUERY))  # a shared link runs its search
    page.wait_for_selector(f'#results[data-query="{QUERY}"]')
    pin = page.locator('li[data-type="pin"]').first
    pin_id = pin.get_attribute("data-id")
    pin.locator("button.title").click()
    page.wait_for_selector(f'#detail[open] #detail-body[data-id="{pin_id}"]')
    body = page.inner_text("#detail-body")
    assert pin_id in body and "caption" in body and "lang" in body
    page.keyboard.press("Escape")
    page.wait_for_selector("#detail:not([open])", state="attached")


def test_the_legacy_toggle_changes_the_results(page) -> None:
    search_by_typing(page, QUERY)
    page.wait_for_selector(f'#results[data-query="{QUERY}"][data-indexes="pin,product,query"]')
    learned = ids(page, "pin")
    page.check("#legacy")
    page.wait_for_selector('#results[data-indexes="legacy_pin,legacy_product,query"]')
    assert "legacy=1" in page.url and ids(page, "pin") != learned and len(ids(page, "pin")) == 10


def test_the_language_filter_hides_other_languages(page) -> None:
    search_by_typing(page, QUERY)
    page.wait_for_selector(f'#results[data-query="{QUERY}"]')
    langs = page.locator("#lang option").evaluate_all("els => els.map(e => e.value)")
    assert langs[0] == "" and len(langs) > 2  # all, then the results' languages
    page.select_option("#lang", langs[1])
    shown = page.locator("li.hit:visible").evaluate_all("els => els.map(e => e.dataset.lang)")
    assert shown and set(shown) == {langs[1]} and f"lang={langs[1]}" in page.url


def test_empty_and_over_long_queries_give_a_clear_message(page) -> None:
    search_by_typing(page, "   ")
    page.wait_for_selector("#message:not([hidden])")
    assert "empty" in page.inner_text("#message")
    search_by_typing(page, "a" * 300)
    page.wait_for_selector("#message:has-text('too long')")
    assert "limit is 256" in page.inner_text("#message") and ids(page, "pin") == []
    search_by_typing(page, QUERY)  # the page recovers
    page.wait_for_selector(f'#results[data-query="{QUERY}"]')
    assert page.is_hidden("#message")


def test_phone_width_shows_tabs(page) -> None:
    page.set_viewport_size({"width": 390, "height": 800})
    search_by_typing(page, QUERY)
    page.wait_for_selector(f'#results[data-query="{QUERY}"]')
    assert page.is_visible("#tabs") and page.is_hidden("#col-product")
    page.click("#tab-product")
    assert page.is_visible("#col-product") and page.is_hidden("#col-pin")


def test_screenshot(page, tmp_path) -> None:
    """A screenshot under the test's tmp dir, or of the page at OMNISAGE_PAGE_URL into OMNISAGE_PAGE_SCREENSHOT."""
    page.set_viewport_size({"width": 1200, "height": 760})
    base = os.environ.get("OMNISAGE_PAGE_URL") or page.url.split("?")[0]
    page.goto(base + "?q=" + quote(QUERY))
    page.wait_for_selector(f'#results[data-query="{QUERY}"]')
    target = Path(os.environ.get("OMNISAGE_PAGE_SCREENSHOT") or tmp_path / "search-page.png")
    page.screenshot(path=str(target), type="png")
    assert target.stat().st_size > 10_000


def test_relevance_badges_and_the_rerank_toggle(browser, served_student) -> None:
    page = browser.new_page()
    page.set_default_timeout(20_000)
    try:
        page.goto(served_student + "/?q=" + quote(QUERY))
        page.wait_for_selector(f'#results[data-query="{QUERY}"][data-reranked="1"]')
        assert page.is_checked("#rerank") and page.is_enabled("#rerank")
        _, ranked = get(f"{served_student}/v1/search?q={quote(QUERY)}&k=10&type=pin,product,query")
        for kind in ("pin", "product"):
            assert ids(page, kind) == [h["id"] for h in ranked["results"][kind]], kind
            badges = page.locator(f'li[data-type="{kind}"] .relevance').evaluate_all(
                "els => els.map(e => Number(e.dataset.relevance))"
            )
            assert badges == [h["relevance"] for h in ranked["results"][kind]], kind
            assert badges == sorted(badges, reverse=True)  # the student's order
        assert page.locator('li[data-type="query"] .relevance').count() == 0  # related queries: not re-ranked
        assert "re-ranked by student " + ranked["student"] in page.inner_text("#stats")

        page.uncheck("#rerank")
        page.wait_for_selector('#results[data-reranked="0"]')
        _, first = get(f"{served_student}/v1/search?q={quote(QUERY)}&k=10&rerank=false")
        assert ids(page, "pin") == [h["id"] for h in first["results"]["pin"]]
        assert ids(page, "pin") != [h["id"] for h in ranked["results"]["pin"]]  # the toggle changes the order
        assert page.locator(".relevance").count() == 0 and "rerank=0" in page.url
        page.reload()  # the toggle's state lives in the URL
        page.wait_for_selector(f'#results[data-query="{QUERY}"][data-reranked="0"]')
        assert not page.is_checked("#rerank")
    finally:
        page.close()


def test_without_a_student_the_rerank_toggle_is_disabled(page) -> None:
    search_by_typing(page, QUERY)
    page.wait_for_selector(f'#results[data-query="{QUERY}"][data-reranked="0"]')
    assert page.is_disabled("#rerank") and page.locator(".relevance").count() == 0
