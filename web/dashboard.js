// The dashboard: /metrics sampled every 2 seconds from the page's start,
// plotted over time (TTFT, tokens/s, cache hit rates, queue).
"use strict";

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
