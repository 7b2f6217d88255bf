// The web page in real headless Chromium (puppeteer-core), against a running
// `chunkserve serve --db --api-key` (started by web_browser_test.cpp).
//
// Environment: PUPPETEER (module path), CHROME (executable), BASE_URL, API_KEY,
// DOCS (folder with the files to upload), OUT (screenshots), REPORT (an HTML
// file written by `chunkserve report`).
"use strict";

const fs = require("fs");
const path = require("path");
const assert = require("assert");
const puppeteer = require(process.env.PUPPETEER);

const BASE = process.env.BASE_URL;
const KEY = process.env.API_KEY;
const DOCS = process.env.DOCS;
const OUT = process.env.OUT;

const log = (...a) => console.log("[web]", ...a);

async function main() {
  const browser = await puppeteer.launch({
    executablePath: process.env.CHROME,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"],
  });
  const page = await browser.newPage();
  await page.setViewport({ width: 1400, height: 900 });
  const pageErrors = [];
  page.on("pageerror", (e) => pageErrors.push(String(e)));
  page.on("dialog", (d) => d.accept());
  try {
    await run(page);
  } finally {
    await browser.close();
  }
  assert.deepStrictEqual(pageErrors, [], "the page threw");
  log("all checks passed");
}

async function setKey(page, key) {
  await page.$eval("#api-key", (el, k) => {
    el.value = k;
    el.dispatchEvent(new Event("change"));
  }, key);
}

async function tab(page, name) {
  await page.click(`.tab[data-tab="${name}"]`);
}

// The last assistant message as stored by the page (localStorage).
async function lastAnswer(page) {
  return page.evaluate(() => {
    const cs = JSON.parse(localStorage.getItem("chunkserve.conversations"));
    const cur = JSON.parse(localStorage.getItem("chunkserve.current"));
    const c = cs.find((x) => x.id === cur);
    return c.messages[c.messages.length - 1];
  });
}

async function ask(page, text) {
  await page.$eval("#prompt", (el, t) => { el.value = t; }, text);
  await page.click("#send");
}

async function waitIdle(page, timeout = 60000) {
  await page.waitForFunction(() => document.querySelector("#stop").disabled, { timeout });
}

// Records in window.__lengths each length the last answer is shown at.
async function recordLengths(page) {
  await page.waitForSelector(".message.assistant:last-child .content");
  await page.evaluate(() => {
    window.__lengths = [];
    const content = document.querySelector(".message.assistant:last-child .content");
    new MutationObserver(() => {
      const n = content.textContent.length;
      if (n > 0 && window.__lengths[window.__lengths.length - 1] !== n) window.__lengths.push(n);
    }).observe(content, { childList: true, subtree: true, characterData: true });
  });
}

// The citation view's highlighted text must be the cited bytes of the file.
async function checkCitation(page, source, files) {
  await page.waitForFunction(() => {
    const m = document.querySelector("#citation-text mark");
    return m && !document.querySelector("#citation").classList.contains("hidden");
  }, { timeout: 10000 });
  const marked = await page.$eval("#citation-text mark", (m) => m.textContent);
  const bytes = files[source.path];
  assert.ok(bytes, "cited an uploaded file: " + source.path);
  const expected = bytes.subarray(source.source_begin, source.source_end).toString("utf8");
  assert.strictEqual(marked, expected, "the highlighted text is the cited bytes of " + JSON.stringify(source));
  const visible = await page.$eval("#citation-text mark", (m) => {
    const r = m.getBoundingClientRect(), box = m.closest("pre").getBoundingClientRect();
    return r.bottom > box.top && r.top < box.bottom;
  });
  assert.ok(visible, "the highlight is scrolled into view");
  const title = await page.$eval("#citation-title", (e) => e.textContent);
  assert.ok(title.includes(source.path), "the citation names its document");
  const meta = await page.$eval("#citation-meta", (e) => e.textContent);
  assert.match(meta, /score -?[\d.e+-]+ \((bm25|dense|hybrid)\)/, "the citation shows its score: " + meta);
  log("citation:", title, "|", meta);
}

async function run(page) {
  // 1. The page loads without a key; a wrong key gets a clear message.
  const res = await page.goto(BASE + "/", { waitUntil: "load" });
  assert.strictEqual(res.status(), 200);
  await page.waitForFunction(() => !document.querySelector("#banner").classList.contains("hidden"));
  let banner = await page.$eval("#banner", (e) => e.textContent);
  assert.match(banner, /API key/, "no key: " + banner);
  await setKey(page, "wrong-key");
  await page.waitForFunction(() => /Incorrect API key/.test(document.querySelector("#banner").textContent));
  banner = await page.$eval("#banner", (e) => e.textContent);
  assert.match(banner, /refused the API key \(401\)/);
  log("wrong key:", banner);
  await setKey(page, KEY);
  await page.waitForFunction(() => document.querySelector("#banner").classList.contains("hidden"));
  await page.waitForFunction(() => document.querySelector("#model-name").textContent.length > 0);

  // 2. A collection, three uploads with progress bars (text, Markdown, PDF),
  // one rejected file.
  await tab(page, "collections");
  await page.type("#collection-name", "docs");
  await page.click("#create-collection button");
  await page.waitForFunction(() => [...document.querySelectorAll("#collection-list li")].some((l) => l.dataset.name === "docs"));
  await page.waitForFunction(() => !document.querySelector("#collection-actions").classList.contains("hidden"));
  const names = ["alpha.txt", "beta.md", "gamma.pdf", "binary.dat", "ledger.txt"];
  // Every value each progress bar shows, as it changes.
  await page.evaluate(() => {
    window.__progress = {};
    new MutationObserver((records) => {
      for (const r of records) {
        if (r.target.tagName !== "PROGRESS") continue;
        const name = r.target.parentNode.children[0].textContent;
        (window.__progress[name] = window.__progress[name] || []).push(Number(r.target.value));
      }
    }).observe(document.querySelector("#upload-list"), { subtree: true, attributes: true, attributeFilter: ["value"] });
  });
  await page.emulateNetworkConditions({ download: -1, upload: 200000, latency: 0 });
  const input = await page.$("#upload-input");
  await input.uploadFile(...names.map((n) => path.join(DOCS, n)));
  await page.waitForFunction(() => {
    const rows = document.querySelectorAll("#upload-list li");
    return rows.length === 5 && [...rows].every((r) => r.classList.contains("done") || r.classList.contains("rejected"));
  }, { timeout: 30000 });
  const rows = await page.$$eval("#upload-list li", (ls) => ls.map((l) => ({
    name: l.children[0].textContent, cls: l.className, progress: l.querySelector("progress").value,
    status: l.querySelector(".upload-status").textContent })));
  await page.emulateNetworkConditions(null);
  log("uploads:", JSON.stringify(rows));
  const progress = await page.evaluate(() => window.__progress);
  log("progress seen:", JSON.stringify(progress["ledger.txt"]));
  assert.ok(progress["ledger.txt"].some((v) => v > 0 && v < 1), "the large upload's bar moved before it finished");
  for (const n of ["alpha.txt", "beta.md", "gamma.pdf", "ledger.txt"]) {
    const r = rows.find((x) => x.name === n);
    assert.strictEqual(r.cls, "done", n + " stored");
    assert.strictEqual(r.progress, 1, n + " progress bar finished");
  }
  const bad = rows.find((x) => x.name === "binary.dat");
  assert.strictEqual(bad.cls, "rejected");
  assert.match(bad.status, /binary data/, "the rejected file says why");
  assert.match(rows.find((x) => x.name === "gamma.pdf").status, /stored: pdf/);
  await page.waitForFunction(() => document.querySelectorAll("#document-table tbody tr").length === 4);
  await page.screenshot({ path: path.join(OUT, "collections.png") });

  const files = {};
  for (const n of names) files[n] = fs.readFileSync(path.join(DOCS, n));

  // 3. A streamed answer over the collection, with per-answer cache figures.
  await tab(page, "chat");
  await page.select("#chat-collection", "docs");
  // The fixture model answers in milliseconds: a slow network (20 kB/s)
  // lets the page be seen growing as the events arrive.
  await page.emulateNetworkConditions({ download: 20000, upload: 10e6, latency: 0 });
  await ask(page, "What do the lighthouse keepers record?");
  await recordLengths(page);
  await waitIdle(page);
  await page.emulateNetworkConditions(null);
  const lengths = await page.evaluate(() => window.__lengths);
  let answer = await lastAnswer(page);
  assert.ok(answer.content.length > 0, "an answer came");
  assert.ok(!answer.error, "no error: " + answer.error);
  log("streamed answer: " + answer.content.length + " chars, shown at lengths " + lengths.join(","));
  assert.ok(lengths.length >= 3, "the answer was shown growing (streamed)");
  const stats = await page.$$eval(".message.assistant .stats", (s) => s[s.length - 1].textContent);
  log("stats:", stats);
  for (const label of ["TTFT", "tokens/s", "prompt tokens", "from prefix cache", "from chunk cache", "recomputed", "context used"])
    assert.ok(stats.includes(label), "stats show " + label);
  assert.match(stats, /context used \d+ of \d+/);
  assert.ok(answer.stats.prompt > 0, "prompt tokens counted");
  assert.ok(answer.sources.length > 0, "the answer has sources");
  assert.strictEqual(typeof answer.sources[0].score, "number", "sources carry their retrieval score");

  // 4. Clicking a source opens the passage, highlighted.
  await page.$eval(".message.assistant:last-child .sources button.cite", (b) => b.click());
  await checkCitation(page, answer.sources[0], files);
  // The same question again: its chunks now come from the chunk cache.
  await page.click("#regenerate");
  await waitIdle(page);
  answer = await lastAnswer(page);
  log("regenerated: prompt", answer.stats.prompt, "prefix", answer.stats.prefix, "chunk", answer.stats.chunk,
    "recomputed", answer.stats.recomputed);
  assert.ok(answer.stats.prefix + answer.stats.chunk > 0, "the second ask reused cached KV");

  // 5. Extractive answer: inline [n] markers open their sentence; the XSS
  // probes in the document render as text.
  await tab(page, "settings");
  await page.screenshot({ path: path.join(OUT, "settings.png") });
  await page.$eval('#settings [name="extractive"]', (el) => { el.checked = true; el.dispatchEvent(new Event("change", { bubbles: true })); });
  await tab(page, "chat");
  await ask(page, "zebra probe onerror script");
  await waitIdle(page);
  answer = await lastAnswer(page);
  log("extractive answer:", JSON.stringify(answer.content));
  assert.ok(/\[\d+\]/.test(answer.content), "the extractive answer cites [n]");
  const marker = ".message.assistant:last-child .content button.cite";
  assert.ok(await page.$(marker), "an inline citation marker is a button");
  const n = Number(await page.$eval(marker, (b) => b.dataset.n));
  await page.$eval(marker, (b) => b.click());
  const cited = (answer.evidence || []).find((e) => e.number === n) || answer.sources.find((s) => s.number === n);
  await checkCitation(page, cited, files);
  const probe = await page.evaluate(() => ({
    xss: window.__xss,
    answerText: document.querySelector(".message.assistant:last-child .content").textContent,
    docText: document.querySelector("#citation-text").textContent,
    elements: document.querySelectorAll(".messages img, .messages script, #citation-text img, #citation-text script").length,
  }));
  assert.strictEqual(probe.xss, undefined, "no probe ran");
  assert.strictEqual(probe.elements, 0, "no element came from text");
  assert.ok(probe.answerText.includes("onerror="), "the answer shows the probe as text");
  assert.ok(probe.docText.includes("<script>") && probe.docText.includes("onerror="), "the document shows the probes as text");
  await page.screenshot({ path: path.join(OUT, "chat_citation.png") });
  log("screenshot", path.join(OUT, "chat_citation.png"));

  // The Markdown renderer on hostile and ordinary input (in the page).
  const md = await page.evaluate(() => {
    const html = (src) => { const d = document.createElement("div"); d.appendChild(Markdown.render(src, () => {})); return d.innerHTML; };
    return {
      js: html("[click](javascript:alert(1)) and [ok](https://example.org/a)"),
      tags: html("<b onmouseover=x>bold?</b> <iframe src=//evil>"),
      rich: html("# Title\n\nSome **bold**, *it*, `code <x>` and a cite [2].\n\n- one\n- two\n\n```\n<script>1</script>\n```"),
      underscores: html("snake_case_name and a__b__c stay"),
    };
  });
  log("markdown:", JSON.stringify(md));
  assert.ok(!md.js.includes("javascript:\"") && md.js.includes("[click](javascript:alert(1))"), "javascript: links stay text");
  assert.ok(md.js.includes('<a href="https://example.org/a" rel="noopener noreferrer" target="_blank">ok</a>'));
  assert.ok(md.tags.includes("&lt;b onmouseover=x&gt;") && md.tags.includes("&lt;iframe"), "tags stay text");
  assert.ok(md.rich.includes("<h3>Title</h3>") && md.rich.includes("<strong>bold</strong>") && md.rich.includes("<em>it</em>"));
  assert.ok(md.rich.includes("<code>code &lt;x&gt;</code>") && md.rich.includes('<button type="button" class="cite" data-n="2">[2]</button>'));
  assert.ok(md.rich.includes("<ul><li>one</li><li>two</li></ul>") && md.rich.includes("<pre><code>&lt;script&gt;1&lt;/script&gt;</code></pre>"));
  assert.ok(!md.underscores.includes("<em>") && !md.underscores.includes("<strong>"), "underscores inside words stay");

  // 6. Stop a long plain-chat generation midway (greedy: the fixture model
  // loops without an end of text, so it would run to max_tokens).
  await page.click("#new-conversation");
  await page.select("#chat-collection", "");
  await tab(page, "settings");
  await page.$eval('#settings [name="max_tokens"]', (el) => { el.value = "1500"; el.dispatchEvent(new Event("change", { bubbles: true })); });
  await page.$eval('#settings [name="temperature"]', (el) => { el.value = "0"; el.dispatchEvent(new Event("change", { bubbles: true })); });
  await tab(page, "chat");
  await page.emulateNetworkConditions({ download: 20000, upload: 10e6, latency: 0 });
  await ask(page, "Tell a very long story.");
  await page.waitForFunction(() => {
    const ms = document.querySelectorAll(".message.assistant .content");
    return ms.length && ms[ms.length - 1].textContent.length > 0;
  }, { timeout: 30000, polling: 5 });
  await page.click("#stop");
  await waitIdle(page, 10000);
  await page.emulateNetworkConditions(null);
  answer = await lastAnswer(page);
  assert.ok(answer.stopped, "the answer is marked stopped");
  assert.ok(!answer.stats || answer.stats.completion < 1500, "stopped before the end");
  const notice = await page.$eval(".message.assistant:last-child .notice", (e) => e.textContent);
  assert.strictEqual(notice, "Stopped.");
  log("stopped after", answer.content.length, "chars");
  // The server still answers.
  await page.$eval('#settings [name="max_tokens"]', (el) => { el.value = "8"; el.dispatchEvent(new Event("change", { bubbles: true })); });
  await ask(page, "Hello");
  await waitIdle(page);
  answer = await lastAnswer(page);
  assert.ok(!answer.error && answer.stats && answer.stats.completion > 0, "the next answer works");

  // A KV policy from the settings reaches the request; the answer says what
  // the cache dropped.
  await tab(page, "settings");
  await page.select('#settings [name="kv_policy"]', "sinks");
  await page.$eval('#settings [name="kv_budget"]', (el) => { el.value = "64"; el.dispatchEvent(new Event("change", { bubbles: true })); });
  await page.$eval('#settings [name="max_tokens"]', (el) => { el.value = "300"; el.dispatchEvent(new Event("change", { bubbles: true })); });
  await tab(page, "chat");
  await ask(page, "Tell me a long story about the sea and ships");
  await waitIdle(page);
  answer = await lastAnswer(page);
  log("with KV policy sinks 64:", JSON.stringify(answer.stats));
  assert.ok(answer.stats.evicted > 0, "tokens were evicted under the policy");
  assert.match(await page.$eval(".message.assistant:last-child .stats", (e) => e.textContent), /KV evicted \d+/);

  // 7. The dashboard plots /metrics: more traffic while it samples.
  await tab(page, "dashboard");
  for (let i = 0; i < 3; i++) {
    await page.evaluate(async (key) => {
      await fetch("/v1/chat/completions", { method: "POST", headers: { "Content-Type": "application/json", Authorization: "Bearer " + key },
        body: JSON.stringify({ messages: [{ role: "user", content: "Hello there" }], max_tokens: 200, temperature: 0 }) });
    }, KEY);
    await new Promise((r) => setTimeout(r, 2100));
  }
  await page.waitForFunction(() => document.querySelectorAll("#chart-queue polyline").length >= 2 &&
    document.querySelectorAll("#chart-ttft circle").length >= 2 && document.querySelectorAll("#chart-cache circle").length >= 2,
  { timeout: 15000 });
  const figures = await page.$eval("#dashboard-now", (e) => e.textContent);
  assert.match(figures, /generated tokens/);
  await page.screenshot({ path: path.join(OUT, "dashboard.png") });
  log("screenshot", path.join(OUT, "dashboard.png"));

  // 8. Deleting a document from the collection.
  await tab(page, "collections");
  await page.waitForFunction(() => document.querySelectorAll("#document-table tbody tr").length === 4);
  await page.evaluate(() => {
    const row = [...document.querySelectorAll("#document-table tbody tr")].find((r) => r.cells[0].textContent === "gamma.pdf");
    row.querySelector("button").click();
  });
  await page.waitForFunction(() => document.querySelectorAll("#document-table tbody tr").length === 3);
  const left = await page.$$eval("#document-table tbody tr", (rs) => rs.map((r) => r.cells[0].textContent).sort());
  assert.deepStrictEqual(left, ["alpha.txt", "beta.md", "ledger.txt"]);

  // 9. A `chunkserve report` file renders its charts offline.
  if (process.env.REPORT) {
    await page.goto("file://" + process.env.REPORT, { waitUntil: "load" });
    const charts = await page.$$eval("svg polyline", (p) => p.length);
    const titles = await page.$$eval("h2", (h) => h.map((x) => x.textContent));
    log("report:", charts, "lines;", titles.join(" | "));
    assert.ok(charts >= 6, "the report draws its series");
    assert.ok(titles.some((t) => t.includes("recompute")) && titles.some((t) => t.includes("clients")));
    await page.screenshot({ path: path.join(OUT, "report.png"), fullPage: true });
  }
}

main().catch((e) => {
  console.error("[web] FAILED:", e && e.stack ? e.stack : e);
  process.exit(1);
});
