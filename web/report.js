// The benchmark report (`chunkserve report`): draws the JSON lines of
// `bench`, `bench --rag` and `serve_bench` (embedded in the page as
// <script type="application/json" id="results">) with Charts.line. Works from
// a file:// URL with nothing else: the report is one self-contained file.
"use strict";

(() => {
  const payload = JSON.parse(document.getElementById("results").textContent);
  const rows = payload.rows;
  const main = document.getElementById("report");

  function section(title, note) {
    const s = document.createElement("section");
    const h = document.createElement("h2");
    h.textContent = title;
    s.appendChild(h);
    if (note) {
      const p = document.createElement("p");
      p.className = "note";
      p.textContent = note;
      s.appendChild(p);
    }
    const grid = document.createElement("div");
    grid.className = "charts";
    s.appendChild(grid);
    main.appendChild(s);
    return grid;
  }

  function chart(grid, opts) {
    const div = document.createElement("div");
    div.className = "chart";
    grid.appendChild(div);
    Charts.line(div, opts);
  }

  // The results file a row came from ("_source" is "FILE:LINE"), named in
  // series only when the report reads several files.
  const fileOf = (r) => String(r._source).replace(/:\d+$/, "");
  const manyFiles = payload.files.length > 1;
  const from = (r) => (manyFiles ? ` (${fileOf(r).split("/").pop()})` : "");

  // Rows grouped by key(row), each group's points sorted by x.
  function seriesBy(list, key, x, y, label) {
    const groups = new Map();
    for (const r of list) {
      const k = key(r);
      if (!groups.has(k)) groups.set(k, []);
      const yv = y(r);
      if (yv === null || yv === undefined || !Number.isFinite(Number(yv))) continue;
      groups.get(k).push([Number(x(r)), Number(yv), r._source]);
    }
    return [...groups].map(([k, points]) => ({ name: label(k), points: points.sort((a, b) => a[0] - b[0]) }));
  }

  // Whole numbers as they are, others to 4 significant digits.
  const cell = (v) => (v === undefined || v === null ? "" : typeof v === "number" && !Number.isInteger(v) ? String(Number(v.toPrecision(4))) : String(v));

  function table(grid, list, columns) {
    const t = document.createElement("table");
    const head = t.createTHead().insertRow();
    for (const c of columns) { const th = document.createElement("th"); th.textContent = c; head.appendChild(th); }
    const body = t.createTBody();
    for (const r of list) {
      const tr = body.insertRow();
      for (const c of columns) tr.insertCell().textContent = cell(r[c]);
    }
    grid.parentNode.appendChild(t);
  }

  // bench --rag: TTFT against the recompute fraction, with fidelity.
  const rag = rows.filter((r) => r.bench === "rag");
  if (rag.length) {
    const g = section("Chunk reuse: TTFT vs recompute fraction (bench --rag)",
      `${rag[0].model}, ${rag[0].chunks} chunks of ${rag[0].chunk_tokens} tokens, ${rag[0].threads} threads`);
    const key = (r) => `${r.model} ${r.chunks}x${r.chunk_tokens}${from(r)}`;
    const multi = new Set(rag.map(key)).size > 1;
    const name = (base) => (k) => (multi ? `${base} ${k}` : base);
    chart(g, { title: "Time to first token", xLabel: "recompute fraction", yLabel: "ms", series: [
      ...seriesBy(rag, key, (r) => r.recompute, (r) => r.ttft_full_ms, name("full prefill")),
      ...seriesBy(rag, key, (r) => r.recompute, (r) => r.ttft_prefix_ms, name("prefix cache")),
      ...seriesBy(rag, key, (r) => r.recompute, (r) => r.ttft_chunk_ram_ms, name("chunk cache (RAM)")),
      ...seriesBy(rag, key, (r) => r.recompute, (r) => r.ttft_chunk_disk_ms, name("chunk cache (disk)")),
    ] });
    chart(g, { title: "Fidelity against full prefill", xLabel: "recompute fraction", yLabel: "top-1 agreement", series:
      seriesBy(rag, key, (r) => r.recompute, (r) => r.top1_agreement, name("top-1 agreement")) });
    chart(g, { title: "Fidelity: KL divergence", xLabel: "recompute fraction", yLabel: "mean KL (nats)", series: [
      ...seriesBy(rag, key, (r) => r.recompute, (r) => r.kl_mean, name("mean KL")),
      ...seriesBy(rag, key, (r) => r.recompute, (r) => r.kl_max, name("max KL")) ] });
    table(g, rag, ["recompute", "ttft_full_ms", "ttft_prefix_ms", "ttft_chunk_ram_ms", "ttft_chunk_disk_ms",
      "speedup_chunk_ram", "tokens_recomputed", "tokens_computed", "top1_agreement", "kl_mean", "kl_max"]);
  }

  // serve_bench: throughput and latency against clients.
  const serve = rows.filter((r) => r.bench === "serve" || r.bench === "serve_long_prefill");
  if (serve.length) {
    const g = section("Serving: throughput and latency vs clients (serve_bench)");
    const key = (r) => r.bench;
    const label = (k) => (k === "serve" ? "" : " (with long prefills)");
    chart(g, { title: "Throughput", xLabel: "clients", xInteger: true, yLabel: "tokens/s", series: [
      ...seriesBy(serve, key, (r) => r.clients, (r) => r.decode_tok_s, (k) => "decode" + label(k)),
      ...seriesBy(serve, key, (r) => r.clients, (r) => r.e2e_tok_s, (k) => "end to end" + label(k)) ] });
    chart(g, { title: "Time to first token", xLabel: "clients", xInteger: true, yLabel: "ms", series: [
      ...seriesBy(serve, key, (r) => r.clients, (r) => r.ttft_p50_ms, (k) => "p50" + label(k)),
      ...seriesBy(serve, key, (r) => r.clients, (r) => r.ttft_p99_ms, (k) => "p99" + label(k)) ] });
    chart(g, { title: "Inter-token latency", xLabel: "clients", xInteger: true, yLabel: "ms", series: [
      ...seriesBy(serve, key, (r) => r.clients, (r) => r.itl_p50_ms, (k) => "p50" + label(k)),
      ...seriesBy(serve, key, (r) => r.clients, (r) => r.itl_p99_ms, (k) => "p99" + label(k)) ] });
    table(g, serve, ["bench", "clients", "decode_tok_s", "e2e_tok_s", "ttft_p50_ms", "ttft_p99_ms", "itl_p50_ms", "itl_p99_ms", "failed"]);
  }
  const serveRag = rows.filter((r) => r.bench === "serve_rag");
  if (serveRag.length) {
    const g = section("Serving RAG requests: chunk cache on / off vs clients (serve_bench --rag)");
    const key = (r) => r.chunk_cache;
    chart(g, { title: "Time to first token (p50)", xLabel: "clients", xInteger: true, yLabel: "ms",
      series: seriesBy(serveRag, key, (r) => r.clients, (r) => r.ttft_p50_ms, (k) => "chunk cache " + k) });
    chart(g, { title: "Requests per second", xLabel: "clients", xInteger: true, yLabel: "requests/s",
      series: seriesBy(serveRag, key, (r) => r.clients, (r) => r.requests_per_s, (k) => "chunk cache " + k) });
    table(g, serveRag, ["chunk_cache", "clients", "ttft_p50_ms", "ttft_p99_ms", "requests_per_s", "prompt_tok_s",
      "chunk_cached_tokens", "chunk_recomputed_tokens", "computed_tokens", "failed"]);
  }

  // bench: prefill and decode speed against the depth: `bench --depth N`
  // (context before the prompt), else the prompt's own length.
  const bench = rows.filter((r) => r.bench === undefined && r.decode_tokens_per_s !== undefined);
  if (bench.length) {
    const g = section("Engine: prefill and decode vs depth (bench)");
    const byDepth = bench.some((r) => (r.depth || 0) > 0);
    const x = byDepth ? (r) => r.depth || 0 : (r) => r.prompt_tokens;
    const xLabel = byDepth ? "depth (context tokens before the prompt)" : "prompt tokens (depth)";
    const policy = (r) => (r.kv_policy && r.kv_policy !== "full" ? `, KV ${r.kv_policy} ${r.kv_budget}` : "");
    const key = (r) => `${String(r.model).split("/").pop()} ${r.threads} threads${policy(r)}${from(r)}`;
    const multi = new Set(bench.map(key)).size > 1;
    chart(g, { title: "Prefill", xLabel, yLabel: "tokens/s",
      series: seriesBy(bench, key, x, (r) => r.prefill_tokens_per_s, (k) => (multi ? k : "prefill")) });
    chart(g, { title: "Decode", xLabel, yLabel: "tokens/s", series: [
      ...seriesBy(bench, key, x, (r) => r.decode_tokens_per_s, (k) => (multi ? k : "decode")),
      ...seriesBy(bench, key, x, (r) => r.roofline_decode_tokens_per_s, (k) => "roofline" + (multi ? " " + k : "")) ] });
    table(g, bench, ["model", "threads", "depth", "kv_policy", "kv_budget", "prompt_tokens", "gen_tokens",
      "prefill_tokens_per_s", "decode_tokens_per_s", "roofline_ratio"]);
  }

  const foot = document.createElement("p");
  foot.className = "note";
  foot.textContent = `${rows.length} result lines from ${payload.files.join(", ")}` +
    (payload.skipped.length ? `; skipped: ${payload.skipped.join("; ")}` : "") + `. Generated ${payload.generated}.`;
  main.appendChild(foot);
  if (!rag.length && !serve.length && !serveRag.length && !bench.length) {
    const p = document.createElement("p");
    p.textContent = "No lines from bench, bench --rag or serve_bench were found.";
    main.insertBefore(p, foot);
  }
})();
