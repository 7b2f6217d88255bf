// What every part of the page shares: element lookup, browser storage, the
// page's state, the API client (every call carries the key typed in the
// header: Authorization: Bearer) and the banner for errors.
//
// Everything the server or a model returns is untrusted text: it reaches
// the page only through textContent / text nodes (Markdown.render, the
// citation view) - never innerHTML.
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
