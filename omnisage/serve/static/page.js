// The omnisage search page: one query embedding -> pins, products and related queries (GET /v1/search), pins
// and products re-ranked by the relevance student when the service has one (each with its relevance badge).
// State lives in the URL (/?q=...&legacy=1&lang=xx&rerank=0) so a search can be shared or reloaded. No dependencies.
"use strict";

const TYPES = ["pin", "product", "query"];
const K = 10;
// Field shown as an item's title, then the text fields "why it matched" looks in, per type.
const TITLE = { pin: "title", product: "title", query: "text" };
const TEXT_FIELDS = {
  pin: ["title", "description", "caption", "board_titles"],
  product: ["title", "brand", "color", "description", "caption"],
  query: ["text"],
};
const $ = (id) => document.getElementById(id);
let available = [];
let student = null; // /healthz's "student": {version, candidates, scale, ...} when the service re-ranks

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

// Lowercased words of the query: the approximate client-side counterpart of the server's normalization.
function queryTerms(q) {
  return [...new Set((q.toLowerCase().match(/[\p{L}\p{N}]+/gu) || []).filter((t) => t.length > 1))];
}

function escapeRe(s) { return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"); }

// `text` as DOM nodes with every query term (a whole word, lowercased) wrapped in <mark>.
function highlight(text, terms) {
  const frag = document.createDocumentFragment();
  if (!terms.length) { frag.append(text); return [frag, false]; }
  const re = new RegExp(`(?<![\\p{L}\\p{N}])(${terms.map(escapeRe).join("|")})(?![\\p{L}\\p{N}])`, "giu");
  let last = 0, hit = false;
  for (const m of text.matchAll(re)) {
    frag.append(text.slice(last, m.index), el("mark", {}, m[0]));
    last = m.index + m[0].length;
    hit = true;
  }
  frag.append(text.slice(last));
  return [frag, hit];
}

function asText(value) { return Array.isArray(value) ? value.join(" · ") : String(value); }

function media(type, id, item) {
  const ref = item.image_ref || "";
  const box = el("div", { class: "media", "aria-hidden": "true" });
  const placeholder = () => box.replaceChildren(item.caption || "no image");
  // An http(s) URL is shown as is; any other reference goes through the server, which sends only image files
  // inside the index set's items/images/ (404 otherwise, and the placeholder stays).
  const src = /^https?:\/\//i.test(ref) ? ref : ref && !/^[a-z]+:/i.test(ref) ? `/v1/images/${type}/${encodeURIComponent(id)}` : "";
  if (src) box.append(el("img", { src, alt: "", loading: "lazy", referrerpolicy: "no-referrer", onerror: placeholder }));
  else placeholder();
  return box;
}

function renderHit(type, hit, rank, terms) {
  const item = hit.item || {};
  const titleText = item[TITLE[type]] || item.caption || hit.id;
  const [titleNodes] = highlight(titleText, terms);
  const open = type === "query" ? () => search(hit.id) : () => openDetail(type, hit.id);
  const label = type === "query" ? `Search “${hit.id}”` : `Details of ${type} ${titleText}`;
  const body = el("div", { class: "body" },
    el("div", { class: "meta" }, `#${rank} · score ${hit.score.toFixed(3)}` + (item.lang ? ` · ${item.lang}` : ""),
      relevanceBadge(hit)),
    el("button", { class: "title", type: "button", "aria-label": label, onclick: open }, titleNodes));
  const matched = [];
  for (const name of TEXT_FIELDS[type]) {
    const value = item[name];
    if (value === null || value === undefined || value === "" || (Array.isArray(value) && !value.length)) continue;
    const [nodes, hitHere] = highlight(asText(value), terms);
    if (hitHere) matched.push(name);
    if (name !== TITLE[type]) body.append(el("p", { class: "field" }, el("b", {}, `${name.replace("_", " ")}: `), nodes));
  }
  if (type === "query" && item.volume !== undefined && item.volume !== null) body.append(el("p", { class: "field" }, el("b", {}, "volume: "), String(item.volume)));
  body.append(el("p", { class: "why" }, matched.length ? `matched words in: ${matched.join(", ")}` : "no shared words (matched by meaning)"));
  return el("li", { class: "hit", "data-type": type, "data-id": hit.id, "data-lang": item.lang || "" },
    type === "query" ? null : media(type, hit.id, item), body);
}

// The student's expected label, on its scale (say 1–5), as a small badge; nothing when it did not re-rank the hit.
function relevanceBadge(hit) {
  if (typeof hit.relevance !== "number") return null;
  const scale = student && student.scale ? ` on ${student.scale.low}–${student.scale.high}` : "";
  return el("span", { class: "relevance", "data-relevance": String(hit.relevance),
    title: `the relevance model's expected label${scale} (embedding score ${hit.score.toFixed(3)})` },
  `relevance ${hit.relevance.toFixed(2)}`);
}

function showMessage(text) {
  $("message").textContent = text;
  $("message").hidden = !text;
}

function params() { return new URLSearchParams(location.search); }

function render(body) {
  const terms = queryTerms(body.query);
  const langs = new Set();
  for (const type of TYPES) {
    const list = document.querySelector(`ol[data-column=${type}]`);
    list.replaceChildren();
    const name = Object.keys(body.results).find((n) => n.replace(/^legacy_/, "") === type);
    const hits = name ? body.results[name] : [];
    hits.forEach((hit, i) => {
      if (hit.item && hit.item.lang) langs.add(hit.item.lang);
      list.append(renderHit(type, hit, i + 1, terms));
    });
    if (!hits.length) list.append(el("li", { class: "empty" }, name ? "no results" : "no index for this type"));
  }
  // Stable hooks for tests and tools: what the columns show now.
  $("results").dataset.query = body.query;
  $("results").dataset.indexes = Object.keys(body.results).join(",");
  $("results").dataset.reranked = body.student ? "1" : "0";
  fillLanguages(langs);
  applyLanguage();
  const cache = body.cached ? "query embedding from the cache" : "query embedding computed";
  const which = $("legacy").checked ? "legacy indexes (compatibility prefix)" : "learned indexes";
  const ranked = body.student ? ` · pins and products re-ranked by student ${body.student}` : "";
  $("stats").textContent = `${body.took_ms.toFixed(1)} ms · ${cache} · model ${body.model_version} · ${which}${ranked}`;
}

function fillLanguages(langs) {
  const select = $("lang");
  const want = params().get("lang") || select.value;
  const options = [el("option", { value: "" }, "all"), ...[...langs].sort().map((l) => el("option", { value: l }, l))];
  if (want && !langs.has(want)) options.push(el("option", { value: want }, want));
  select.replaceChildren(...options);
  select.value = want;
}

function applyLanguage() {
  const lang = $("lang").value;
  for (const li of document.querySelectorAll("li.hit")) li.hidden = !!lang && !!li.dataset.lang && li.dataset.lang !== lang;
}

function setUrl(q, push) {
  const p = new URLSearchParams();
  if (q) p.set("q", q);
  if ($("legacy").checked) p.set("legacy", "1");
  if ($("lang").value) p.set("lang", $("lang").value);
  if (student && !$("rerank").checked) p.set("rerank", "0");
  const url = "/" + (p.toString() ? "?" + p : "");
  if (url !== location.pathname + location.search) history[push ? "pushState" : "replaceState"]({}, "", url);
}

async function search(q, push = true) {
  $("q").value = q;
  setUrl(q.trim() ? q : "", push);
  if (!q.trim()) {
    showMessage("Type a query to search: it is empty.");
    clearResults();
    return;
  }
  const types = $("legacy").checked
    ? TYPES.map((t) => (available.includes("legacy_" + t) ? "legacy_" + t : t)).filter((t) => available.includes(t))
    : TYPES.filter((t) => available.includes(t));
  const url = `/v1/search?q=${encodeURIComponent(q)}&k=${K}&fields=all` + (types.length ? `&type=${types.join(",")}` : "")
    + (student && !$("rerank").checked ? "&rerank=false" : "");
  let response;
  try {
    response = await fetch(url);
  } catch (err) {
    showMessage(`The service did not answer (${err.message}).`);
    return;
  }
  const body = await response.json().catch(() => ({ error: `HTTP ${response.status}` }));
  if (!response.ok) {
    showMessage(describeError(body.error || `HTTP ${response.status}`));
    clearResults();
    return;
  }
  showMessage("");
  render(body);
}

function describeError(error) {
  if (/characters long; the limit is/.test(error)) return `That query is too long: ${error.replace(/^q /, "it ")}. Shorten it and search again.`;
  if (/is empty/.test(error)) return "Type a query to search: it is empty (after normalization).";
  return error;
}

function clearResults() {
  delete $("results").dataset.query;
  for (const list of document.querySelectorAll("ol.hits")) list.replaceChildren();
  $("stats").textContent = "";
}

async function openDetail(type, id) {
  const response = await fetch(`/v1/items/${type}/${encodeURIComponent(id)}`);
  const body = await response.json().catch(() => ({}));
  const dialog = $("detail");
  const item = body.item || {};
  $("detail-title").textContent = `${type}: ${item[TITLE[type]] || item.caption || id}`;
  const list = el("dl", {}, el("dt", {}, "id"), el("dd", {}, id));
  if (!response.ok) list.append(el("dt", {}, "error"), el("dd", {}, body.error || `HTTP ${response.status}`));
  for (const [name, value] of Object.entries(item)) {
    if (name === "engaged_queries" || name === "board_titles") continue;
    list.append(el("dt", {}, name.replace("_", " ")), el("dd", {}, value === null ? "—" : asText(value)));
  }
  const parts = [media(type, id, item), list];
  for (const [name, label, clickable] of [["engaged_queries", "Engaged queries", true], ["board_titles", "Board titles", false]]) {
    if (!Array.isArray(item[name]) || !item[name].length) continue;
    const chips = el("ul", { class: "chips", "data-field": name });
    for (const text of item[name]) {
      chips.append(el("li", {}, clickable
        ? el("button", { type: "button", onclick: () => { dialog.close(); search(text); } }, text)
        : text));
    }
    parts.push(el("h3", {}, label), chips);
  }
  $("detail-body").replaceChildren(...parts);
  $("detail-body").dataset.type = type;
  $("detail-body").dataset.id = id;
  dialog.showModal();
}

function selectTab(type) {
  for (const t of TYPES) {
    $("tab-" + t).setAttribute("aria-selected", String(t === type));
    $("col-" + t).classList.toggle("active", t === type);
  }
}

async function init() {
  try {
    const health = await (await fetch("/healthz")).json();
    available = Object.keys(health.indexes || {});
    student = health.student || null;
  } catch (err) {
    showMessage(`The service did not answer (${err.message}).`);
  }
  const legacy = $("legacy");
  legacy.disabled = !available.some((n) => n.startsWith("legacy_"));
  if (legacy.disabled) legacy.parentElement.title = "this index set has no legacy indexes (build it with --world)";
  const rerank = $("rerank");
  rerank.disabled = !student;
  rerank.parentElement.title = student
    ? `the student ${student.version} re-scores the embeddings' top ${student.candidates} pins and products`
    : "the service has no relevance model (serve it with --student)";
  $("search-form").addEventListener("submit", (e) => { e.preventDefault(); search($("q").value); });
  for (const box of [legacy, rerank]) box.addEventListener("change", () => { if ($("q").value.trim()) search($("q").value); });
  $("lang").addEventListener("change", () => { applyLanguage(); setUrl($("q").value, false); });
  for (const t of TYPES) $("tab-" + t).addEventListener("click", () => selectTab(t));
  window.addEventListener("popstate", load);
  load();
}

function load() {
  const p = params();
  $("legacy").checked = p.get("legacy") === "1" && !$("legacy").disabled;
  $("rerank").checked = !!student && p.get("rerank") !== "0";
  if (p.has("q")) search(p.get("q"), false);
  else { $("q").value = ""; showMessage(""); clearResults(); }
}

init();
