// Chat: conversations kept in localStorage, answers streamed over SSE from
// /v1/chat/completions or /v1/rag/chat/completions (stop, regenerate),
// rendered as safe Markdown with per-answer figures, and the citation view
// that opens a cited passage highlighted in its document.
"use strict";

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
    evicted: (u.kv_cache && u.kv_cache.evicted_tokens) || 0,
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
  if (s.evicted) add("KV evicted", String(s.evicted), "stat-evicted");
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
    meta.push(scoreOf(m, src));
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

// "score S (mode)": the source's retrieval score as the answer reports it.
function scoreOf(m, src) {
  if (src.score == null) return "source " + src.number;
  return `score ${Number(src.score).toPrecision(4)}` + (m.retrieval ? ` (${m.retrieval})` : "");
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
             recompute_fraction: s.recompute_fraction, kv_policy: kvPolicyField(s) };
  } else {
    path = "/v1/chat/completions";
    body = { model: state.server && state.server.model, messages: history, stream: true,
             stream_options: { include_usage: true }, max_tokens: s.max_tokens, temperature: s.temperature, top_p: s.top_p,
             recompute_fraction: s.recompute_fraction, kv_policy: kvPolicyField(s) };
  }
  const controller = new AbortController();
  setBusy(controller);
  const started = performance.now();
  // At most one redraw per frame while events arrive; the last one is
  // drawn at the end (a frame still pending then is cancelled).
  let firstMs = null, frame = 0;
  const redraw = () => {
    if (frame) return;
    frame = requestAnimationFrame(() => {
      frame = 0;
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
    if (frame) cancelAnimationFrame(frame);
    setBusy(null);
    saveConversations();
    if (answer.el) updateMessage(answer);
    $("messages").scrollTop = $("messages").scrollHeight;
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
