// Settings (generation, retrieval, recompute fraction) that start from the
// server's values (GET /v1/server) and are kept in the browser, and the
// model information.
"use strict";

// ---- Server info and settings ---------------------------------------------

const SETTING_FIELDS = ["temperature", "rag_temperature", "top_p", "max_tokens", "mode", "k", "token_budget", "extractive",
  "recompute_fraction", "kv_policy", "kv_budget"];

function serverDefaults() {
  const d = (state.server && state.server.defaults) || {};
  return {
    temperature: d.temperature ?? 1, rag_temperature: d.rag_temperature ?? 0, top_p: d.top_p ?? 1, max_tokens: d.max_tokens ?? 256,
    mode: d.retrieval_mode ?? "bm25", k: d.k ?? 5, token_budget: d.token_budget ?? 1500,
    extractive: state.server ? !state.server.generation : false,
    recompute_fraction: d.recompute_fraction ?? 0.15,
    kv_policy: d.kv_policy ?? "full", kv_budget: d.kv_budget || 2048,
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
  // The KV policies this server knows (options rebuilt from /v1/server).
  const policies = (state.server && state.server.kv_policies) || ["full"];
  form.elements.kv_policy.replaceChildren(...policies.map((p) => {
    const o = document.createElement("option");
    o.value = p;
    o.textContent = p;
    return o;
  }));
  form.elements.kv_policy.value = s.kv_policy;
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
    ["Model", s.model ?? "(none: retrieval only)"], ["Context", s.context_tokens != null ? s.context_tokens + " tokens" : "-"],
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

// The request's kv_policy field: the policy by name, with its budget unless full.
function kvPolicyField(s) {
  return s.kv_policy === "full" ? "full" : { name: s.kv_policy, budget: s.kv_budget };
}
