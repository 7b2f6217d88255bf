// Line charts as SVG, hand-written: the dashboard's live plots and the
// offline benchmark report (`chunkserve report`) both draw with it.
//
// Charts.line(container, {title, xLabel, yLabel, series: [{name, points:
// [[x, y], ...]}], xTime, xInteger}) replaces the container's content with
// one chart (xTime: x is a time in ms; xInteger: x ticks on whole numbers).
// Labels and names go in as text nodes (textContent), never as markup.
"use strict";

const Charts = (() => {
  const NS = "http://www.w3.org/2000/svg";
  const COLORS = ["#2f6fd6", "#d6452f", "#2a9d4a", "#9b4dca", "#d68f1f", "#178f96", "#7a7a7a"];

  function el(name, attrs, text) {
    const e = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // About n round tick values covering [lo, hi].
  function ticks(lo, hi, n) {
    if (!(hi > lo)) return [lo];
    const raw = (hi - lo) / n;
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 5, 10].map((f) => f * mag).find((s) => s >= raw) || raw;
    const out = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
    return out;
  }

  function format(v) {
    if (v === 0) return "0";
    const a = Math.abs(v);
    if (a >= 1e6) return (v / 1e6).toPrecision(3) + "M";
    if (a >= 1e4) return (v / 1e3).toPrecision(3) + "k";
    if (a >= 100) return v.toFixed(0);
    if (a >= 1) return Number(v.toPrecision(3)).toString();
    return Number(v.toPrecision(2)).toString();
  }

  function timeLabel(ms) {
    const d = new Date(ms);
    return d.toTimeString().slice(0, 8);
  }

  function line(container, opts) {
    const series = (opts.series || []).filter((s) => s.points && s.points.length > 0);
    // The legend flows left to right in rows below the plot (names measured
    // approximately: 6.5 px per character at 11 px).
    const W = 560, L = 60, R = 16, T = 30, PLOT = 212;
    const legend = [];
    let lx = L, row = 0;
    for (const s of series) {
      const width = 24 + 6.5 * String(s.name).length;
      if (lx > L && lx + width > W - R) { lx = L; row++; }
      legend.push({ x: lx, row });
      lx += width;
    }
    const B = 44 + 14 * (row + 1), H = T + PLOT + B;
    const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, role: "img" });
    svg.appendChild(el("text", { x: W / 2, y: 18, "text-anchor": "middle", "font-size": 14, "font-weight": 600 }, opts.title || ""));
    const pts = series.flatMap((s) => s.points).filter((p) => Number.isFinite(p[0]) && Number.isFinite(p[1]));
    if (pts.length === 0) {
      svg.appendChild(el("text", { x: W / 2, y: H / 2, "text-anchor": "middle", fill: "#888" }, "no data yet"));
      container.replaceChildren(svg);
      return svg;
    }
    let x0 = Math.min(...pts.map((p) => p[0])), x1 = Math.max(...pts.map((p) => p[0]));
    let y0 = Math.min(0, ...pts.map((p) => p[1])), y1 = Math.max(...pts.map((p) => p[1]));
    if (x1 === x0) { x0 -= 1; x1 += 1; }
    if (y1 === y0) y1 = y0 + 1;
    y1 += (y1 - y0) * 0.05;
    const sx = (x) => L + ((x - x0) / (x1 - x0)) * (W - L - R);
    const sy = (y) => H - B + ((y - y0) / (y1 - y0)) * -(H - T - B);
    const axis = el("g", { stroke: "#999", "stroke-width": 1 });
    axis.appendChild(el("line", { x1: L, y1: H - B, x2: W - R, y2: H - B }));
    axis.appendChild(el("line", { x1: L, y1: T, x2: L, y2: H - B }));
    svg.appendChild(axis);
    for (const v of ticks(y0, y1, 5)) {
      svg.appendChild(el("line", { x1: L, x2: W - R, y1: sy(v), y2: sy(v), stroke: "#eee" }));
      svg.appendChild(el("text", { x: L - 6, y: sy(v) + 4, "text-anchor": "end", "font-size": 11 }, format(v)));
    }
    let previous = null;
    for (const v of ticks(x0, x1, opts.xTime ? 4 : 6)) {
      if (opts.xInteger && !Number.isInteger(v)) continue;
      const label = opts.xTime ? timeLabel(v) : format(v);
      if (label === previous) continue;  // sub-second ticks of a short time span
      previous = label;
      svg.appendChild(el("line", { x1: sx(v), x2: sx(v), y1: H - B, y2: H - B + 4, stroke: "#999" }));
      svg.appendChild(el("text", { x: sx(v), y: H - B + 16, "text-anchor": "middle", "font-size": 11 }, label));
    }
    svg.appendChild(el("text", { x: (L + W - R) / 2, y: H - B + 32, "text-anchor": "middle", "font-size": 12 }, opts.xLabel || ""));
    svg.appendChild(el("text", { x: 14, y: (T + H - B) / 2, "text-anchor": "middle", "font-size": 12,
      transform: `rotate(-90 14 ${(T + H - B) / 2})` }, opts.yLabel || ""));
    series.forEach((s, i) => {
      const color = s.color || COLORS[i % COLORS.length];
      const good = s.points.filter((p) => Number.isFinite(p[0]) && Number.isFinite(p[1]));
      svg.appendChild(el("polyline", { points: good.map((p) => `${sx(p[0])},${sy(p[1])}`).join(" "),
        fill: "none", stroke: color, "stroke-width": 2 }));
      for (const p of good) {
        const c = el("circle", { cx: sx(p[0]), cy: sy(p[1]), r: good.length > 60 ? 1.5 : 3, fill: color });
        c.appendChild(el("title", {}, `${s.name}: ${opts.xTime ? timeLabel(p[0]) : format(p[0])} -> ${format(p[1])}` +
          (p[2] ? ` (${p[2]})` : "")));
        svg.appendChild(c);
      }
      const lx = legend[i].x, ly = H - B + 44 + 14 * legend[i].row;
      svg.appendChild(el("rect", { x: lx, y: ly - 9, width: 10, height: 10, fill: color }));
      const t = el("text", { x: lx + 14, y: ly, "font-size": 11 }, s.name);
      svg.appendChild(t);
    });
    container.replaceChildren(svg);
    return svg;
  }

  return { line };
})();
