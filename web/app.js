// chunkserve's web page: chat (plain or over a collection) with citations
// that open their passage, collections and uploads, a live dashboard of
// /metrics, and settings that start from the server's values.
//
// Everything the server or a model returns is untrusted text: it reaches
// the page only through textContent / text nodes (Markdown.render, the
// citation view) - never innerHTML. Every API call carries the key typed in
// the header (Authorization: Bearer); the page itself loads without one.
"use strict";

const $ = (id) => document.getElementById(id);
const store = {
  get(key, fallback) {
    try { const v = localStorage.getItem("chunkserve." + key); return v === null ? fallback : JSON.parse(v); } catch { return fallback; }
  },
  // Messages keep their DOM nodes under "el": not stored.
  set(key, value) { localStorage.setItem("chunkserve." + key, JSON.stringify(value, (k, v) => (k === "el" ? undefined : v))); },
};

const state = {
  server: null,              // GET /v1/server
  settings: store.get("settings", null),
  conversations: store.get("conversations", []),
  current: store.get("current", null),
  busy: null,                // {controller} while an answer streams
  collection: null,          // the collection shown in the Collections tab
};

// ---- API ------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

function authHeaders() {
  const key = $("api-key").value.trim();
  return key ? { Authorization: "Bearer " + key } : {};
}

async function errorFrom(res) {
  let message = res.statusText || "HTTP " + res.status;
  try { const j = await res.json(); if (j && j.error && j.error.message) message = j.error.message; } catch { /* not JSON */ }
  return new ApiError(res.status, explain(res.status, message));
}

// A message a person can act on.
function explain(status, message) {
  if (status === 401) return "The server refused the API key (401): " + message + " Enter the right key at the top right.";
  if (status === 503) return "The server is busy or unavailable (503): " + message;
  return message + " (HTTP " + status + ")";
}

async function api(method, path, body, signal) {
  const headers = authHeaders();
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal });
  if (!res.ok) throw await errorFrom(res);
  return res.json();
}

function showBanner(message) {
  const b = $("banner");
  b.textContent = message;
  b.classList.toggle("hidden", !message);
}

// ---- Server info and settings ---------------------------------------------

const SETTING_FIELDS = ["temperature", "rag_temperature", "top_p", "max_tokens", "mode", "k", "token_budget", "extractive", "recompute_fraction"];

function serverDefaults() {
  const d = (state.server && state.server.defaults) || {};
  return {
    temperature: d.temperature ?? 1, rag_temperature: d.rag_temperature ?? 0, top_p: d.top_p ?? 1, max_tokens: d.max_tokens ?? 256,
    mode: d.retrieval_mode ?? "bm25", k: d.k ?? 5, token_budget: d.token_budget ?? 1500,
    extractive: state.server ? !state.server.generation : false,
    recompute_fraction: d.recompute_fraction ?? 0.15,
  };
}

function settings() {
  const s = Object.assign(serverDefaults(), state.settings || {});
  // A mode saved against another server may not be served here.
  const modes = (state.server && state.server.retrieval_modes) || [];
  if (modes.length && !modes.includes(s.mode)) s.mode = serverDefaults().mode;
  return s;
}

function fillSettingsForm() {
  const form = $("settings");
  const s = settings();
  for (const f of SETTING_FIELDS) {
    const input = form.elements[f];
    if (input.type === "checkbox") input.checked = !!s[f]; else input.value = s[f];
  }
  const modes = (state.server && state.server.retrieval_modes) || ["bm25"];
  for (const o of form.elements.mode.options) o.disabled = !modes.includes(o.value);
}

function readSettingsForm() {
  const form = $("settings");
  const out = {};
  for (const f of SETTING_FIELDS) {
    const input = form.elements[f];
    out[f] = input.type === "checkbox" ? input.checked : input.type === "number" ? Number(input.value) : input.value;
  }
  state.settings = out;
  store.set("settings", out);
}

function showModelInfo() {
  const s = state.server;
  $("model-name").textContent = s && s.model ? s.model : "";
  const dl = $("model-info");
  dl.replaceChildren();
  if (!s) return;
  const rows = [
    ["Model", s.model ?? "(none: retrieval only)"], ["Context", s.context_tokens + " tokens"],
    ["Generation", s.generation ? "yes" : "no (extractive answers only)"],
    ["Collections", s.rag ? "yes" : "no (start serve with --db)"], ["Embedder", s.embedder ?? "(none: BM25 only)"],
    ["Retrieval modes", (s.retrieval_modes || []).join(", ")],
  ];
  for (const [k, v] of rows) {
    const dt = document.createElement("dt"); dt.textContent = k;
    const dd = document.createElement("dd"); dd.textContent = String(v);
    dl.append(dt, dd);
  }
}

async function loadServer() {
  try {
    state.server = await api("GET", "/v1/server");
    showBanner("");
  } catch (e) {
    showBanner(e.message);
    return false;
  }
  showModelInfo();
  fillSettingsForm();
  startDashboard();  // the plots cover the whole visit, not just the time on their tab
  await refreshCollections();
  return true;
}

// ---- Conversations ----------------------------------------------------------

function saveConversations() {
  store.set("conversations", state.conversations);
  store.set("current", state.current);
}

function currentConversation() {
  let c = state.conversations.find((x) => x.id === state.current);
  if (!c) {
    c = { id: String(Date.now()) + Math.random().toString(16).slice(2, 6), title: "New conversation", messages: [] };
    state.conversations.unshift(c);
    state.current = c.id;
    saveConversations();
  }
  return c;
}

function renderConversationList() {
  const ul = $("conversation-list");
  ul.replaceChildren();
  for (const c of state.conversations) {
    const li = document.createElement("li");
    li.classList.toggle("active", c.id === state.current);
    const span = document.createElement("span");
    span.textContent = c.title;
    const del = document.createElement("button");
    del.textContent = "\u2715";
    del.title = "delete";
    del.addEventListener("click", (e) => {
      e.stopPropagation();
      state.conversations = state.conversations.filter((x) => x !== c);
      if (state.current === c.id) state.current = null;
      saveConversations();
      renderConversationList();
      renderMessages();
    });
    li.append(span, del);
    li.addEventListener("click", () => {
      if (state.busy) return;
      state.current = c.id;
      saveConversations();
      renderConversationList();
      renderMessages();
    });
    ul.appendChild(li);
  }
}

function renderMessages() {
  const box = $("messages");
  box.replaceChildren();
  const c = state.conversations.find((x) => x.id === state.current);
  if (!c) return;
  if (c.collection !== undefined) $("chat-collection").value = c.collection;
  for (const m of c.messages) box.appendChild(messageElement(m));
  box.scrollTop = box.scrollHeight;
}

// ---- Rendering one message --------------------------------------------------

function messageElement(m) {
  const div = document.createElement("div");
  div.className = "message " + m.role;
  const role = document.createElement("div");
  role.className = "role";
  role.textContent = m.role === "user" ? "You" : "Assistant" + (m.collection ? " \u00b7 " + m.collection : "");
  const content = document.createElement("div");
  content.className = "content";
  div.append(role, content);
  m.el = { div, content };
  updateMessage(m);
  return div;
}

function updateMessage(m) {
  const { div, content } = m.el;
  if (m.role === "user") {
    content.replaceChildren(Markdown.render(m.content, null));
    return;
  }
  content.replaceChildren(Markdown.render(m.content, (n) => openCitation(m, n)));
  for (const extra of div.querySelectorAll(".stats, .sources, .error, .notice")) extra.remove();
  if (m.stopped) div.appendChild(textDiv("notice", "Stopped."));
  if (m.error) div.appendChild(textDiv("error", m.error));
  if (m.sources && m.sources.length) {
    const s = document.createElement("div");
    s.className = "sources";
    s.appendChild(document.createTextNode("Sources:"));
    for (const src of m.sources) {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "cite source-chip";
      b.dataset.n = src.number;
      b.textContent = "[" + src.number + "] " + src.path;
      b.addEventListener("click", () => openCitation(m, src.number));
      s.appendChild(b);
    }
    div.appendChild(s);
  }
  if (m.mode === "extractive") div.appendChild(textDiv("stats", "Extractive answer: the sources' own sentences, nothing generated" +
    (m.retrieval ? " \u00b7 retrieval " + m.retrieval : "")));
  else if (m.stats) div.appendChild(statsElement(m.stats, m.retrieval));
  if (m.fit && (m.fit.sources_dropped > 0 || m.fit.source_cut))
    div.appendChild(textDiv("notice", "To fit the model's context " +
      (m.fit.sources_dropped > 0 ? m.fit.sources_dropped + " source(s) were left out" : "") +
      (m.fit.sources_dropped > 0 && m.fit.source_cut ? " and " : "") + (m.fit.source_cut ? "the last source was cut" : "") + "."));
}

function textDiv(cls, text) {
  const d = document.createElement("div");
  d.className = cls;
  d.textContent = text;
  return d;
}

// Per-answer figures from the response's usage (and the client's own clock).
function answerStats(usage, clientTtftMs, contextTokens) {
  const u = usage || {};
  const details = u.prompt_tokens_details || {};
  const timings = u.timings || {};
  const ttft = timings.ttft_ms ?? clientTtftMs;
  const decodeMs = (timings.total_ms ?? 0) - (timings.ttft_ms ?? 0);
  const completion = u.completion_tokens ?? 0;
  return {
    ttft_ms: ttft, client_ttft_ms: clientTtftMs,
    tokens_per_s: completion > 1 && decodeMs > 0 ? (completion - 1) / (decodeMs / 1000) : null,
    prompt: u.prompt_tokens ?? 0, completion,
    prefix: details.prefix_cached_tokens ?? 0, chunk: details.chunk_cached_tokens ?? 0,
    recomputed: details.chunk_recomputed_tokens ?? 0, computed: details.computed_tokens ?? 0,
    context_used: (u.prompt_tokens ?? 0) + completion, context: contextTokens,
  };
}

function statsElement(s, retrieval) {
  const d = document.createElement("div");
  d.className = "stats";
  const add = (label, value, cls) => {
    const span = document.createElement("span");
    if (cls) span.className = cls;
    const b = document.createElement("b");
    b.textContent = value;
    span.append(document.createTextNode(label + " "), b);
    d.appendChild(span);
  };
  const ms = (v) => (v == null ? "-" : v.toFixed(0) + " ms");
  add("TTFT", ms(s.ttft_ms), "stat-ttft");
  add("tokens/s", s.tokens_per_s == null ? "-" : s.tokens_per_s.toFixed(1), "stat-tps");
  add("prompt tokens", String(s.prompt), "stat-prompt");
  add("from prefix cache", String(s.prefix), "stat-prefix");
  add("from chunk cache", String(s.chunk), "stat-chunk");
  add("recomputed", String(s.recomputed), "stat-recomputed");
  add("computed", String(s.computed), "stat-computed");
  add("context used", s.context_used + " of " + (s.context ?? "?"), "stat-context");
  if (retrieval) add("retrieval", retrieval, "stat-retrieval");
  return d;
}

// ---- The citation view ------------------------------------------------------

async function openCitation(m, n) {
  // An extractive answer's evidence (the sentence quoted) is more precise
  // than its source (the whole passage).
  const src = (m.evidence || []).find((s) => s.number === n) || (m.sources || []).find((s) => s.number === n);
  if (!src) return;
  const panel = $("citation");
  panel.classList.remove("hidden");
  $("citation-title").textContent = "[" + n + "] " + src.path;
  $("citation-meta").textContent = "loading\u2026";
  $("citation-text").replaceChildren();
  try {
    const q = `?source_begin=${src.source_begin}&source_end=${src.source_end}`;
    const doc = await api("GET", `/v1/collections/${encodeURIComponent(m.collection)}/documents/${src.document_id}${q}`);
    const r = doc.range;
    const meta = [];
    if (r.heading_path && r.heading_path.length) meta.push(r.heading_path.join(" \u203a "));
    if (r.page_begin) meta.push(r.page_begin === r.page_end ? "page " + r.page_begin : `pages ${r.page_begin}-${r.page_end}`);
    meta.push(await scoreOf(m, src));
    meta.push(`bytes ${r.source_begin}-${r.source_end} of ${doc.bytes}`);
    $("citation-meta").textContent = meta.join(" \u00b7 ");
    const mark = document.createElement("mark");
    mark.textContent = doc.text.slice(r.text_begin, r.text_end);
    $("citation-text").replaceChildren(document.createTextNode(doc.text.slice(0, r.text_begin)), mark,
      document.createTextNode(doc.text.slice(r.text_end)));
    mark.scrollIntoView({ block: "center" });
  } catch (e) {
    $("citation-meta").textContent = e.message;
  }
}

// "score S (mode)": the source's retrieval score as /v1/search gives it for
// the answer's question (the RAG response numbers its sources by rank but
// does not carry their scores).
async function scoreOf(m, src) {
  const fmt = (v) => Number(v).toPrecision(4);
  if (src.score != null) return "score " + fmt(src.score);
  if (!m.question) return "rank " + src.number;
  if (!m.scores) {
    const s = settings();
    const res = await api("POST", "/v1/search", { collection: m.collection, query: m.question,
      k: Math.min(1000, Math.max(20, 4 * (m.sources || []).length)), mode: m.retrieval || s.mode });
    m.scores = {};
    for (const hit of res.data) m.scores[hit.chunk_id] = { score: hit.score, rank: hit.rank, mode: res.mode };
  }
  const hit = m.scores[src.chunk_id];
  return hit ? `score ${fmt(hit.score)} (${hit.mode}, rank ${hit.rank})` : "rank " + src.number;
}

// ---- Asking -----------------------------------------------------------------

// Server-sent events of a fetch response, one parsed JSON object at a time.
async function* sseEvents(res) {
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += decoder.decode(value, { stream: true });
    let at;
    while ((at = buf.indexOf("\n\n")) >= 0) {
      const event = buf.slice(0, at);
      buf = buf.slice(at + 2);
      for (const line of event.split("\n")) {
        if (!line.startsWith("data:")) continue;
        const data = line.slice(5).trim();
        if (data === "[DONE]") return;
        yield JSON.parse(data);
      }
    }
  }
}

function setBusy(controller) {
  state.busy = controller ? { controller } : null;
  $("stop").disabled = !controller;
  $("send").disabled = !!controller;
  $("regenerate").disabled = !!controller;
}

async function ask(text) {
  const c = currentConversation();
  const collection = $("chat-collection").value;
  c.collection = collection;
  if (text !== null) {
    c.messages.push({ role: "user", content: text });
    if (c.title === "New conversation") c.title = text.slice(0, 60);
  }
  const question = [...c.messages].reverse().find((x) => x.role === "user");
  const answer = { role: "assistant", content: "", collection: collection || null, question: question && question.content };
  c.messages.push(answer);
  saveConversations();
  renderConversationList();
  renderMessages();
  const s = settings();
  const history = c.messages.filter((x) => x !== answer).map((x) => ({ role: x.role, content: x.content }));
  let path, body;
  if (collection) {
    path = "/v1/rag/chat/completions";
    body = { collection, messages: history, stream: true, max_tokens: s.max_tokens, temperature: s.rag_temperature,
             k: s.k, token_budget: s.token_budget, mode: s.mode, extractive: !!s.extractive,
             recompute_fraction: s.recompute_fraction };
  } else {
    path = "/v1/chat/completions";
    body = { model: state.server && state.server.model, messages: history, stream: true,
             stream_options: { include_usage: true }, max_tokens: s.max_tokens, temperature: s.temperature, top_p: s.top_p,
             recompute_fraction: s.recompute_fraction };
  }
  const controller = new AbortController();
  setBusy(controller);
  const started = performance.now();
  let firstMs = null, pending = false;
  const redraw = () => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      if (answer.el) updateMessage(answer);
      $("messages").scrollTop = $("messages").scrollHeight;
    });
  };
  try {
    const res = await fetch(path, { method: "POST", signal: controller.signal,
      headers: Object.assign({ "Content-Type": "application/json" }, authHeaders()), body: JSON.stringify(body) });
    if (!res.ok) throw await errorFrom(res);
    for await (const ev of sseEvents(res)) {
      if (ev.error) { answer.error = ev.error.message || "the answer failed"; continue; }
      const choice = (ev.choices && ev.choices[0]) || {};
      const piece = choice.delta && choice.delta.content;
      if (piece) {
        if (firstMs === null) firstMs = performance.now() - started;
        answer.content += piece;
      }
      if (ev.usage) answer.stats = answerStats(ev.usage, firstMs, state.server && state.server.context_tokens);
      if (ev.sources) { answer.sources = ev.sources; answer.evidence = ev.evidence; answer.retrieval = ev.retrieval; }
      if (ev.mode) answer.mode = ev.mode;
      if (ev.context_fit) answer.fit = ev.context_fit;
      redraw();
    }
    if (!answer.stats) answer.stats = answerStats(null, firstMs, state.server && state.server.context_tokens);
  } catch (e) {
    if (e.name === "AbortError") answer.stopped = true;
    else answer.error = e.message;
  } finally {
    setBusy(null);
    saveConversations();
    if (answer.el) updateMessage(answer);
  }
}

// Drops the last answer and asks its question again.
function regenerate() {
  const c = state.conversations.find((x) => x.id === state.current);
  if (!c || state.busy) return;
  while (c.messages.length && c.messages[c.messages.length - 1].role === "assistant") c.messages.pop();
  if (!c.messages.length) return;
  ask(null);
}

// ---- Collections ----------------------------------------------------------

async function refreshCollections() {
  if (!state.server || !state.server.rag) return;
  let list;
  try {
    list = await api("GET", "/v1/collections");
  } catch (e) {
    showBanner(e.message);
    return;
  }
  const select = $("chat-collection");
  const keep = select.value;
  select.replaceChildren(select.options[0]);
  const ul = $("collection-list");
  ul.replaceChildren();
  for (const c of list.data) {
    const o = document.createElement("option");
    o.value = c.name;
    o.textContent = `${c.name} (${c.documents} documents)`;
    select.appendChild(o);
    const li = document.createElement("li");
    li.textContent = `${c.name} \u00b7 ${c.documents} docs \u00b7 ${c.chunks} chunks`;
    li.dataset.name = c.name;
    li.classList.toggle("active", c.name === state.collection);
    li.addEventListener("click", () => showCollection(c.name));
    ul.appendChild(li);
  }
  select.value = [...select.options].some((o) => o.value === keep) ? keep : "";
}

async function showCollection(name) {
  state.collection = name;
  $("collection-title").textContent = name;
  $("collection-actions").classList.remove("hidden");
  for (const li of $("collection-list").children) li.classList.toggle("active", li.dataset.name === name);
  let c;
  try {
    c = await api("GET", "/v1/collections/" + encodeURIComponent(name));
  } catch (e) {
    showBanner(e.message);
    return;
  }
  const table = $("document-table");
  const body = table.tBodies[0];
  body.replaceChildren();
  for (const d of c.documents) {
    const tr = document.createElement("tr");
    for (const v of [d.name, d.format, d.bytes, d.chunks]) {
      const td = document.createElement("td");
      td.textContent = String(v);
      tr.appendChild(td);
    }
    const td = document.createElement("td");
    const del = document.createElement("button");
    del.textContent = "Delete";
    del.className = "danger";
    del.addEventListener("click", async () => {
      try {
        await api("DELETE", `/v1/collections/${encodeURIComponent(name)}/documents/${d.id}`);
      } catch (e) { showBanner(e.message); }
      await showCollection(name);
      await refreshCollections();
    });
    td.appendChild(del);
    tr.appendChild(td);
    body.appendChild(tr);
  }
  table.classList.toggle("hidden", c.documents.length === 0);
}

// One file through multipart/form-data with an upload progress bar.
function uploadFile(collection, file, row) {
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `/v1/collections/${encodeURIComponent(collection)}/documents`);
    for (const [k, v] of Object.entries(authHeaders())) xhr.setRequestHeader(k, v);
    xhr.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable) row.progress.value = e.loaded / e.total;
    });
    const finish = (ok, message) => {
      row.li.classList.add(ok ? "done" : "rejected");
      row.status.textContent = message;
      if (ok) row.progress.value = 1;
      resolve(ok);
    };
    xhr.addEventListener("load", () => {
      let j = null;
      try { j = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
      if (xhr.status === 200 && j) finish(true, `stored: ${j.format}, ${j.chunks} chunks`);
      else finish(false, "rejected: " + explain(xhr.status, (j && j.error && j.error.message) || xhr.statusText));
    });
    xhr.addEventListener("error", () => finish(false, "failed: the connection broke"));
    const form = new FormData();
    form.append("file", file, file.name);
    xhr.send(form);
  });
}

async function uploadFiles(files) {
  const collection = state.collection;
  if (!collection) return;
  const rows = [...files].map((file) => {
    const li = document.createElement("li");
    const name = document.createElement("span");
    name.textContent = file.name;
    const progress = document.createElement("progress");
    progress.max = 1;
    progress.value = 0;
    const status = document.createElement("span");
    status.className = "upload-status";
    status.textContent = "waiting";
    li.append(name, progress, status);
    $("upload-list").appendChild(li);
    return { file, li, progress, status };
  });
  for (const row of rows) {
    row.status.textContent = "uploading";
    await uploadFile(collection, row.file, row);
  }
  await showCollection(collection);
  await refreshCollections();
}

// ---- Dashboard ----------------------------------------------------------------

const dashboard = { samples: [], timer: null };

// Prometheus text -> {"name{labels}": value}.
function parseMetrics(text) {
  const out = {};
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const at = line.lastIndexOf(" ");
    out[line.slice(0, at)] = Number(line.slice(at + 1));
  }
  return out;
}

function startDashboard() {
  if (dashboard.timer) return;
  sampleMetrics();
  dashboard.timer = setInterval(sampleMetrics, 2000);
}

async function sampleMetrics() {
  let text;
  try {
    const res = await fetch("/metrics", { headers: authHeaders() });
    if (!res.ok) throw await errorFrom(res);
    text = await res.text();
  } catch (e) {
    $("dashboard-now").textContent = e.message;
    return;
  }
  const m = parseMetrics(text);
  const v = (k) => m[k] ?? 0;
  const s = {
    t: Date.now(),
    ttft_sum: v("chunkserve_time_to_first_token_seconds_sum"), ttft_count: v("chunkserve_time_to_first_token_seconds_count"),
    completion: v("chunkserve_completion_tokens_total"), prompt: v("chunkserve_prompt_tokens_total"),
    prefix: v('chunkserve_cache_hit_tokens_total{kind="prefix"}'), chunk: v('chunkserve_cache_hit_tokens_total{kind="chunk"}'),
    waiting: v("chunkserve_requests_waiting"), running: v("chunkserve_requests_running"),
  };
  dashboard.samples.push(s);
  if (dashboard.samples.length > 300) dashboard.samples.shift();
  drawDashboard();
}

function drawDashboard() {
  const S = dashboard.samples;
  const ttft = [], tps = [], prefix = [], chunk = [], waiting = [], running = [];
  for (let i = 1; i < S.length; i++) {
    const a = S[i - 1], b = S[i];
    const dt = (b.t - a.t) / 1000;
    const dn = b.ttft_count - a.ttft_count;
    if (dn > 0) ttft.push([b.t, ((b.ttft_sum - a.ttft_sum) / dn) * 1000]);
    tps.push([b.t, dt > 0 ? (b.completion - a.completion) / dt : 0]);
    const dp = b.prompt - a.prompt;
    if (dp > 0) {
      prefix.push([b.t, (100 * (b.prefix - a.prefix)) / dp]);
      chunk.push([b.t, (100 * (b.chunk - a.chunk)) / dp]);
    }
  }
  for (const s of S) { waiting.push([s.t, s.waiting]); running.push([s.t, s.running]); }
  Charts.line($("chart-ttft"), { title: "Time to first token", yLabel: "ms", xTime: true, series: [{ name: "mean TTFT per interval", points: ttft }] });
  Charts.line($("chart-tps"), { title: "Generated tokens per second", yLabel: "tokens/s", xTime: true, series: [{ name: "tokens/s", points: tps }] });
  Charts.line($("chart-cache"), { title: "Prompt tokens from caches", yLabel: "% of prompt tokens", xTime: true,
    series: [{ name: "prefix cache", points: prefix }, { name: "chunk cache", points: chunk }] });
  Charts.line($("chart-queue"), { title: "Requests", yLabel: "requests", xTime: true,
    series: [{ name: "waiting (queue)", points: waiting }, { name: "running", points: running }] });
  const last = S[S.length - 1];
  if (!last) return;
  const now = $("dashboard-now");
  now.replaceChildren();
  const total = last.prompt > 0 ? (100 * (last.prefix + last.chunk)) / last.prompt : 0;
  for (const [k, val] of [["mean TTFT", last.ttft_count ? ((1000 * last.ttft_sum) / last.ttft_count).toFixed(0) + " ms" : "-"],
    ["generated tokens", String(last.completion)], ["prompt tokens", String(last.prompt)],
    ["from caches", total.toFixed(1) + " %"], ["queue", String(last.waiting)], ["running", String(last.running)]]) {
    const d = document.createElement("div");
    const b = document.createElement("b");
    b.textContent = val;
    d.append(b, document.createTextNode(k));
    now.appendChild(d);
  }
}

// ---- Wiring ---------------------------------------------------------------------

function showTab(name) {
  for (const t of document.querySelectorAll(".tab")) t.classList.toggle("active", t.dataset.tab === name);
  for (const p of document.querySelectorAll(".panel")) p.classList.toggle("hidden", p.id !== "tab-" + name);
  if (name === "dashboard") startDashboard();
  if (name === "collections") refreshCollections();
}

function init() {
  $("api-key").value = sessionStorage.getItem("chunkserve.key") || "";
  $("api-key").addEventListener("change", () => {
    sessionStorage.setItem("chunkserve.key", $("api-key").value.trim());
    loadServer();
  });
  for (const t of document.querySelectorAll(".tab")) t.addEventListener("click", () => showTab(t.dataset.tab));
  $("composer").addEventListener("submit", (e) => {
    e.preventDefault();
    const text = $("prompt").value.trim();
    if (!text || state.busy) return;
    $("prompt").value = "";
    ask(text);
  });
  $("prompt").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); $("composer").requestSubmit(); }
  });
  $("stop").addEventListener("click", () => state.busy && state.busy.controller.abort());
  $("regenerate").addEventListener("click", regenerate);
  $("new-conversation").addEventListener("click", () => {
    if (state.busy) return;
    state.current = null;
    currentConversation();
    renderConversationList();
    renderMessages();
  });
  $("citation-close").addEventListener("click", () => $("citation").classList.add("hidden"));
  $("create-collection").addEventListener("submit", async (e) => {
    e.preventDefault();
    const name = $("collection-name").value.trim();
    try {
      await api("POST", "/v1/collections", { name });
      $("collection-name").value = "";
      showBanner("");
      await refreshCollections();
      await showCollection(name);
    } catch (err) { showBanner(err.message); }
  });
  $("upload-input").addEventListener("change", (e) => { uploadFiles(e.target.files); e.target.value = ""; });
  $("delete-collection").addEventListener("click", async () => {
    if (!state.collection || !confirm(`Delete the collection '${state.collection}' and its documents?`)) return;
    try { await api("DELETE", "/v1/collections/" + encodeURIComponent(state.collection)); } catch (err) { showBanner(err.message); }
    state.collection = null;
    $("collection-title").textContent = "Select a collection";
    $("collection-actions").classList.add("hidden");
    $("document-table").classList.add("hidden");
    await refreshCollections();
  });
  $("settings").addEventListener("change", readSettingsForm);
  $("settings-reset").addEventListener("click", () => {
    state.settings = null;
    store.set("settings", null);
    fillSettingsForm();
  });
  setBusy(null);
  renderConversationList();
  renderMessages();
  loadServer();
}

init();
