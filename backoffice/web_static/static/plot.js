/* Small SVG plots (line over days, horizontal bars) drawn without any library. */
"use strict";
(function () {
  const NS = "http://www.w3.org/2000/svg";
  function el(name, attrs, text) {
    const e = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function pct(v) { return v == null ? "–" : Math.round(v * 100) + "%"; }

  /* points: [{x: "2026-11-01", y: 0.83 | null}], values 0..1; opts: {title, target} */
  function line(points, opts) {
    const W = 640, H = 240, L = 40, R = 12, T = 24, B = 36;
    const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, class: "plot", role: "img", "aria-label": opts.title || "" });
    svg.appendChild(el("text", { x: L, y: 15 }, opts.title || ""));
    const pw = W - L - R, ph = H - T - B;
    const y = v => T + ph - v * ph;
    const x = i => L + (points.length <= 1 ? pw / 2 : (i * pw) / (points.length - 1));
    for (const g of [0, 0.25, 0.5, 0.75, 1]) {
      svg.appendChild(el("line", { x1: L, x2: W - R, y1: y(g), y2: y(g), stroke: "#e6e9ed" }));
      svg.appendChild(el("text", { x: 4, y: y(g) + 4 }, pct(g)));
    }
    if (opts.target != null) {
      svg.appendChild(el("line", { x1: L, x2: W - R, y1: y(opts.target), y2: y(opts.target), stroke: "#b3261e", "stroke-dasharray": "5 4", class: "target" }));
      svg.appendChild(el("text", { x: W - R - 70, y: y(opts.target) - 4 }, "target " + pct(opts.target)));
    }
    let d = "", pen = false;
    points.forEach((p, i) => {
      if (p.y == null) { pen = false; return; }
      d += (pen ? "L" : "M") + x(i).toFixed(1) + " " + y(p.y).toFixed(1) + " ";
      pen = true;
    });
    if (d) svg.appendChild(el("path", { d, fill: "none", stroke: "#0b5cad", "stroke-width": 2, class: "series" }));
    const every = Math.max(1, Math.ceil(points.length / 8));
    points.forEach((p, i) => {
      if (p.y != null) {
        const c = el("circle", { cx: x(i), cy: y(p.y), r: 3.5, fill: "#0b5cad", class: "point" });
        c.appendChild(el("title", {}, `${p.x}: ${pct(p.y)}${p.n != null ? " (" + p.n + " rated)" : ""}`));
        svg.appendChild(c);
      }
      if (i % every === 0) svg.appendChild(el("text", { x: Math.min(W - R - 32, Math.max(L + 32, x(i))), y: H - 12, "text-anchor": "middle" }, p.x));
    });
    return svg;
  }

  /* items: [{label, value 0..1 | null, n}] */
  function bars(items, opts) {
    const W = 640, row = 26, L = 150, R = 60, T = 26;
    const H = T + Math.max(1, items.length) * row + 10;
    const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, class: "plot", role: "img", "aria-label": opts.title || "" });
    svg.appendChild(el("text", { x: 4, y: 15 }, opts.title || ""));
    const pw = W - L - R;
    items.forEach((it, i) => {
      const yy = T + i * row;
      svg.appendChild(el("text", { x: 4, y: yy + 16 }, it.label.slice(0, 22)));
      const w = it.value == null ? 0 : Math.max(1, it.value * pw);
      const good = opts.target == null || it.value == null || it.value >= opts.target;
      const r = el("rect", { x: L, y: yy + 4, width: w.toFixed(1), height: row - 10, fill: good ? "#1c7c3a" : "#b3261e", class: "bar" });
      r.appendChild(el("title", {}, `${it.label}: ${pct(it.value)}${it.n != null ? " (" + it.n + " rated)" : ""}`));
      svg.appendChild(r);
      svg.appendChild(el("text", { x: L + w + 6, y: yy + 16 }, pct(it.value)));
    });
    if (opts.target != null) {
      const tx = L + opts.target * pw;
      svg.appendChild(el("line", { x1: tx, x2: tx, y1: T - 4, y2: H - 6, stroke: "#b3261e", "stroke-dasharray": "5 4", class: "target" }));
    }
    return svg;
  }

  window.Plot = { line, bars, pct };
})();
