// The explorer's live view: a Streamlit component (plain JS, no build step) that receives one run's
// per-alpha reductions (explorer/live.py) and redraws the tiles and every chart on each slider
// input, with no server round trip. Alpha-dependent marks (the alpha line, dots, bars and their
// numbers) are described as Plotly layout shapes but drawn by `drawShapes` straight into an SVG
// layer over each plot; Plotly draws the same shapes only for an export. A step after a quiet frame
// redraws at once, faster steps are coalesced to one redraw per animation frame.
// window.__wiseft records input, tile and chart times for bench/browser_latency.py.
// The payload and the component's arguments are typed in explorer/payload.py. They are read only through these
// names, so that tests/test_live_contract.py can list the keys read: P (the payload), set (an entry of P.sets, or
// setOf(name)), sc (P.scatter), m (P.marks), ex (an entry of P.extra), o (an entry of P.overlay), ci (P.ci), args; in paths mode
// (paths.js: the lesson's "four paths, one slider" and the lab page) Q (the payload), pa (an entry of Q.panels), cv (a curve).
"use strict";

const LOGIT_EPS = 1e-4;  // as core.results.metrics.logit
const FIXED = "#2ca02c", BROKEN = "#d62728", ZERO = "#9a9a9a", STAR = "#ff7f0e";
// The scatter's current-alpha mark: its dot (shapes) and its entry in the key and the caption come from here.
const CURRENT = { name: "current α", mode: "markers", marker: { symbol: "circle", color: STAR } };
let P = null, built = null, cur = 0, pending = false, urlTimer = null, lastDraw = -1e9, shown = null;
let syncTimer = null, serverAlpha = null;  // telling the server the alpha (syncServer)
// the server-side tabs that show alpha-dependent things (args.alpha_tabs, named in explorer/app.py): the slider's
// alpha is sent when it rests while one of them is open
let alphaTabs = [];
const SVG_NS = "http://www.w3.org/2000/svg";
// firstTiles / firstCharts: wall-clock ms (Date.now()) of the first tiles and the first full draw, for the time from
// opening a link (the page's performance.timeOrigin) to a view on screen
const T = (window.__wiseft = { seq: 0, inputAt: 0, tileAt: 0, chartsAt: 0, drawnSeq: -1, errors: [], scriptAt: Date.now(),
                               firstTiles: 0, firstCharts: 0, plotlyAt: 0 });
// plotly.min.js loads after this file (index.html, async): the tiles need no Plotly, the charts wait for it
const plotlyReady = new Promise((resolve) => {
  const poll = () => (window.Plotly ? resolve((T.plotlyAt = Date.now())) : setTimeout(poll, 15));
  poll();
});

function send(type, data) {
  window.parent.postMessage(Object.assign({ isStreamlitMessage: true, type }, data || {}), "*");
}
function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  Object.entries(attrs || {}).forEach(([k, v]) => (k === "class" ? (e.className = v) : e.setAttribute(k, v)));
  kids.forEach((k) => e.append(k));
  return e;
}
const logit = (p) => { const q = Math.min(Math.max(p, LOGIT_EPS), 1 - LOGIT_EPS); return Math.log(q / (1 - q)); };
// A share as a percentage to 0.1, rounded half up: the same arithmetic as explorer/numbers.py's tenths(), so a tile
// and a server-side table never show one number two ways (77.25 is 77.3 in both).
const tenths = (v) => Math.floor(v * 1000 + 0.5 + 1e-9) / 10;
// Every number on the page is written by fmt: `digits` after the point (1), rounded half away from zero; a "+" when
// `signed`, and "±" on a signed value that rounds to zero (never "−0.0"); "−" (U+2212) for negatives; then `unit`.
// null, NaN and infinities are "n/a".
function fmt(x, how) {
  const { digits = 1, signed = false, unit = "" } = how || {};
  if (x == null || !isFinite(x)) return "n/a";
  const r = Math.round(Math.abs(x) * 10 ** digits + 1e-9) / 10 ** digits;
  return (r === 0 ? (signed ? "±" : "") : x < 0 ? "−" : signed ? "+" : "") + r.toFixed(digits) + unit;
}
const a2 = (a) => fmt(a, { digits: 2 });
const pct = (v) => fmt(v == null ? null : tenths(v), { unit: "%" });  // tenths: as explorer/numbers.py rounds
const pp = (d) => fmt(d == null ? null : 100 * d, { signed: true, unit: " pp" });  // "+1.2 pp", "±0.0 pp", "n/a"
const cls = (d) => (d == null || Math.round(1000 * d) === 0 ? "flat" : d > 0 ? "up" : "down");
const nearest = (a) => P.alphas.reduce((b, x, i) => (Math.abs(x - a) < Math.abs(P.alphas[b] - a) ? i : b), 0);
const setOf = (n) => P.sets.find((set) => set.name === n);

// ------------------------------------------------------------------------------------------ page

function build(args) {
  P = args.payload;
  shown = args.charts;
  const root = document.getElementById("root");
  root.className = "live" + (args.presenter ? " presenter" : "") + (args.compact ? " compact" : "") +
    (P.mode === "paths" ? " paths" : "");
  root.replaceChildren();
  const [e0, e1] = P.mode === "paths" ? ["", ""] : P.endpoints;
  const slider = el("input", { type: "range", id: "alpha", min: 0, max: P.alphas.length - 1, step: 1,
                               "aria-label": "alpha" });
  const bar = el("div", { class: "bar" }, el("label", { for: "alpha" }, "α"), slider,
                 el("output", { id: "alphaOut" }), P.mode === "paths" || (shown && !shown.includes("jumps")) ? el("span") : jumps(),
                 el("div", { class: "formula" }, P.mode === "paths" ? pathsFormula() :
                    `θα = (1 − α)·θ0 + α·θ1, with θ0 = ${e0} (α = 0) and θ1 = ${e1} (α = 1). ` +
                    "Drag, or focus the slider and use the arrow keys."));
  const tiles = el("div", { class: "tiles", id: "tiles", "aria-live": "polite" });
  if (shown && !shown.includes("tiles")) tiles.style.display = "none";  // a lesson step without tiles (args.charts)
  const grid = el("div", { class: "grid" });
  root.append(bar, tiles, grid);
  if (P.mode === "paths") root.insertBefore(pathsKey(), grid);
  charts().forEach((c) => grid.append(el("figure", { class: "card" },
    el("div", { class: "head" }, el("h4", { class: "ct" }, c.title), el("div", { class: "sub", id: c.id + "Sub" })),
    el("div", { class: "plot", id: c.id }), el("div", { class: "key", id: c.id + "Key" }),
    caption(typeof c.note === "function" ? "" : c.note))));
  slider.addEventListener("input", (ev) => move(+slider.value, ev.timeStamp));
  const stored = window.parent.__wiseftAlpha;
  const start = stored && stored.key === args.key_name ? stored.alpha : P.alpha;
  cur = nearest(start);
  slider.value = cur;
  built = { key: args.key_name, id: args.payload_id, presenter: !!args.presenter };
  document.getElementById("alphaOut").textContent = a2(P.alphas[cur]);
  (P.mode === "paths" ? drawPathTiles : drawTiles)();  // on screen before Plotly has loaded
  T.firstTiles = T.firstTiles || Date.now();
  plotlyReady.then(() => Promise.all(charts().map((c) => c.init()))).then(() => {
    charts().forEach((c) => { const gd = document.getElementById(c.id); gd.on("plotly_afterplot", () => gd.__marks && drawShapes(gd, gd.__marks)); drawKey(c); });
    built.ready = true;
    move(cur, performance.now());
  });
  fitFrame(root);
  collapseSidebarOnNarrowScreens();
}

function caption(html) { const f = el("figcaption"); f.innerHTML = html; return f; }

function jumps() {
  const m = P.marks, box = el("div", { class: "jumps" }, "jump to:");
  const add = (label, a) => {
    if (a == null) return;
    const b = el("button", { type: "button" }, label);
    b.addEventListener("click", (ev) => { const i = nearest(a); document.getElementById("alpha").value = i; move(i, ev.timeStamp); });
    box.append(b);
  };
  add("α = 0.5", m.half);
  add(`best on ID (α = ${m.best_id == null ? "?" : a2(m.best_id)})`, m.best_id);
  Object.entries(m.best).forEach(([n, a]) => add(`best on ${setOf(n).label} (${a2(a)})`, a));
  return box;
}

function move(i, at) {
  cur = i;
  T.seq += 1; T.inputAt = at;
  document.getElementById("alphaOut").textContent = a2(P.alphas[i]);
  (P.mode === "paths" ? drawPathTiles : drawTiles)();
  T.tileAt = performance.now();
  T.firstTiles = T.firstTiles || Date.now();
  if (pending) { /* the frame already asked for draws the latest alpha */ }
  else if (performance.now() - lastDraw > 16) drawCharts();  // quiet: now, not a frame later
  else { pending = true; requestAnimationFrame(drawCharts); }
  window.parent.__wiseftAlpha = { key: built.key, alpha: P.alphas[i] };
  clearTimeout(urlTimer);
  urlTimer = setTimeout(writeUrl, 150);
  clearTimeout(syncTimer);
  syncTimer = setTimeout(() => syncServer(true), 350);
  if (performance.now() - lastSync > SYNC_EVERY) syncServer(false);  // follow the drag, throttled
}

function alphaPanel() {  // the open tab's panel below the live view when it shows alpha-dependent things, else null
  try {
    const d = window.parent.document;
    if (alphaTabs.includes("*")) return window.frameElement || d.body;  // the page beside the view follows alpha
    const tab = d.querySelector('[role="tab"][aria-selected="true"]');
    if (!tab || !alphaTabs.includes(tab.textContent.trim())) return null;
    return d.getElementById(tab.getAttribute("aria-controls")) || tab;
  } catch (e) { return null; }  // not same-origin
}

const onScreen = (el) => { const r = el.getBoundingClientRect(); return r.bottom > 0 && r.top < window.parent.innerHeight; };

// A rerun when a tab (or, args.alpha_tabs = ["*"], the page beside the view) that needs the alpha is open and the
// server's alpha is stale: while the slider moves, at most every SYNC_EVERY ms and only when the panel is on screen
// (a rerun re-renders it, which stalls the slider for ~50-100 ms: ten steps 50 ms apart stretched to 516-571 ms while
// reruns landed, 458 ms without); when the slider rests, always, so an off-screen gallery has caught up when it is
// scrolled to.
const SYNC_EVERY = 700;
let lastSync = 0;
function syncServer(resting) {
  if (!P || P.mode !== "run") return;
  const panel = alphaPanel(), a = P.alphas[cur];
  if (!panel || (serverAlpha != null && Math.abs(serverAlpha - a) < 1e-9)) return;
  if (!resting && !onScreen(panel)) return;
  serverAlpha = a;
  lastSync = performance.now();
  send("streamlit:setComponentValue", { value: a, dataType: "json" });
}

function writeUrl() {  // the link opens this exact view (the server reads ?alpha= on load)
  try {
    const w = window.parent, u = new URL(w.location.href);
    u.searchParams.set("alpha", a2(P.alphas[cur]));
    w.history.replaceState(w.history.state, "", u.toString());
  } catch (e) { /* a cross-origin host page: the URL keeps the server's alpha */ }
}

function collapseSidebarOnNarrowScreens() {
  const w = window.parent;
  try {
    if (w.__wiseftSidebarChecked) return;
    w.__wiseftSidebarChecked = true;
    if (w.innerWidth >= 1300) return;
    const btn = w.document.querySelector('button[aria-label="Collapse sidebar"]');
    if (btn) btn.click();  // present only while the sidebar is open
  } catch (e) { /* not same-origin */ }
}

function drawTiles() {
  const [lo, hi] = P.ends, [e0, e1] = P.endpoints.map((e) => e.replace(/"/g, "'")), g0 = nearest(lo), g1 = nearest(hi);
  const tile = (key, color, label, ys) => {  // one value at the current alpha and its change vs both ends
    const v = ys[cur], d0 = v == null || ys[g0] == null ? null : v - ys[g0], d1 = v == null || ys[g1] == null ? null : v - ys[g1];
    const head = `<div class="tile" data-set="${key}"><div class="tl"><i style="background:${color}"></i>${label}</div><div class="tv">${pct(v)}</div>`;
    if (v == null) return head + `<div class="td flat">${P.mode === "paper" ? "blank in the paper's table" : "not measured"}</div></div>`;
    return head + `<div class="td ${cls(d0)}" title="vs ${e0}">${pp(d0)} vs α=${lo}</div>` +
      `<div class="td ${cls(d1)}" title="vs ${e1}">${d1 == null ? "n/a (blank)" : pp(d1)} vs α=${hi}</div></div>`;
  };
  const label = (set) => set.label + (set.role && set.role !== "avg" ? ` (${set.role})` : "");
  const rows = P.sets.map((set) => (P.ci ? intervalTile(set, label(set), [[lo, e0, g0], [hi, e1, g1]])
                                         : tile(set.name, set.color, label(set), P.acc[set.name])));
  (P.extra || []).forEach((ex) => rows.push(tile("extra:" + ex.name, ex.color, `${ex.label}: ${ex.short}`, ex.values)));
  const sc = P.scatter;
  if (sc && sc.er) rows.push(erTile(sc));
  if (P.ci) rows.push(`<div class="cikey">± 95% interval over each set's examples (Wilson; a change is paired over the ` +
    `same examples). <span class="noise">Within noise</span>: the change's interval contains 0.</div>`);
  else if (P.mode === "paper") rows.push(`<div class="cikey">The paper's tables give accuracies only, no per-image ` +
    "results: these numbers come without intervals.</div>");
  document.getElementById("tiles").innerHTML = rows.join("");
}

// ------------------------------------------------------------------------------------------ intervals (P.ci)

const atCur = (bounds) => [bounds[0][cur], bounds[1][cur]];  // [lo, hi] at the current alpha of a (2, G) P.ci entry
const half = (b) => fmt(100 * (b[1] - b[0]) / 2);  // the half-width of a [lo, hi] of shares, in points
const span100 = (b, how) => `[${fmt(100 * b[0], how)}, ${fmt(100 * b[1], how)}]`;

// One line of a tile: the change since an end with its paired interval; "within noise" (grey) when the interval
// contains 0 (ci.sign, computed in Python, says which), the number and its interval kept in small type and the hover.
function changeLine(d, bounds, sign, end, who) {
  if (d == null) return `<div class="td flat">n/a vs α=${end}</div>`;
  if (bounds && bounds[0] === 0 && bounds[1] === 0 && d === 0) return `<div class="td flat">this is α=${end}</div>`;
  const tip = `${pp(d)} vs ${who}; 95% interval ${span100(bounds, { signed: true })} pp, paired over the same examples`;
  if (sign === 0) {
    return `<div class="td noise" title="${tip}: within noise">within noise vs α=${end} ` +
      `<small>${fmt(100 * d, { signed: true })} ±${half(bounds)}</small></div>`;
  }
  return `<div class="td ${sign > 0 ? "up" : "down"}" title="${tip}">${fmt(100 * d, { signed: true })} ` +
    `<small>±${half(bounds)}</small> pp vs α=${end}</div>`;
}

// A set's tile: its accuracy at the current alpha with its Wilson interval, and its change since each end.
function intervalTile(set, label, ends) {
  const ci = P.ci, ys = P.acc[set.name], v = ys[cur], b = atCur(ci.acc[set.name]);
  const head = `<div class="tile" data-set="${set.name}"><div class="tl"><i style="background:${set.color}"></i>${label}</div>`;
  if (v == null) return head + `<div class="tv">${pct(v)}</div><div class="td flat">not measured</div></div>`;
  const tv = `<div class="tv" title="95% interval ${span100(b)}%">${pct(v)}<small> ±${half(b)}</small></div>`;
  return head + tv + ends.map(([end, who, g], k) => changeLine(ys[g] == null ? null : v - ys[g], atCur(ci.diff[set.name][k]),
                                                              ci.sign[set.name][k][cur], end, who)).join("") + "</div>";
}

// Effective robustness at the current alpha: above the fit, below it, or within noise of it (its interval holds 0).
function erTile(sc) {
  const ci = P.ci, er = sc.er[cur], b = ci && ci.er ? atCur(ci.er) : null, sign = b ? ci.er_sign[cur] : null;
  const above = sign == null ? (er >= 0 ? 1 : -1) : sign;  // no interval (paper mode): the value's own sign
  const where = above > 0 ? "above the fit" : above < 0 ? "below the fit" : "within noise of the fit";
  const tip = "effective robustness: OOD accuracy above the baselines' fit at this ID accuracy" +
    (b ? `; 95% interval ${span100(b, { signed: true })} pp (ID and OOD examples resampled, the fit held fixed)` : "");
  const head = `<div class="tile" data-set="er" title="${tip}"><div class="tl">ER (${sc.y_label})</div>`;
  const blank = P.mode === "paper" ? "blank in the paper's table" : "not measured";
  if (er == null) return head + `<div class="tv">n/a</div><div class="td flat">${blank}</div></div>`;
  return head + `<div class="tv">${fmt(100 * er, { signed: true })}<small>${b ? " ±" + half(b) : ""} pp</small></div>` +
    `<div class="td ${sign === 0 ? "noise" : ""}">${where}</div></div>`;
}

// Barriers in nats, with their 95% interval where the run has examples: "+1.945 [1.909, 1.981]".
function barrierText(n) {
  const b = P.ci && P.ci.barrier[n], nats = (v) => fmt(v, { digits: 3 });
  return fmt(P.barrier[n], { digits: 3, signed: true }) + (b ? ` [${nats(b[0])}, ${nats(b[1])}]` : "");
}
const barrierList = (names) => "Chord barriers (nats" + (P.ci ? ", 95% interval" : "") + "): " +
  names.map((n) => `${setOf(n).label} ${barrierText(n)}`).join(", ");

function erText() {  // the scatter's subtitle: ER with its interval, or within noise of the fit
  const ci = P.ci, b = ci && ci.er ? atCur(ci.er) : null;
  return pp(P.scatter.er[cur]) + (b ? ` ±${half(b)}` + (ci.er_sign[cur] === 0 ? " (within noise)" : "") : "");
}

// The accuracy chart's 95% bands: one filled polygon per set under its curve (the chart's first traces), hidden until
// the "95% bands" box is ticked; the choice outlives reruns (window.parent) and travels in the link (?bands=1).
function bandTraces() {
  const on = bandsOn(), xs = P.alphas.concat(P.alphas.slice().reverse());
  return P.sets.map((set) => {
    const [lo, hi] = P.ci.acc[set.name], ys = hi.map((v) => 100 * v).concat(lo.map((v) => 100 * v).reverse());
    return line(xs, ys, set.label + ": 95% band", { width: 0, color: set.color },
                { fill: "toself", fillcolor: set.color, opacity: 0.16, hoverinfo: "skip", showlegend: false,
                  legendgroup: "band", visible: on });
  });
}

function bandsOn() {
  try {
    const w = window.parent;
    return w.__wiseftBands != null ? w.__wiseftBands : new URL(w.location.href).searchParams.get("bands") === "1";
  } catch (e) { return false; }  // not same-origin
}

function bandToggle(id, n) {
  const box = el("input", { type: "checkbox", id: "bands" });
  box.checked = bandsOn();
  box.addEventListener("change", () => {
    Plotly.restyle(id, { visible: box.checked }, [...Array(n).keys()]);
    try {
      const w = window.parent, u = new URL(w.location.href);
      w.__wiseftBands = box.checked;
      if (box.checked) u.searchParams.set("bands", "1"); else u.searchParams.delete("bands");
      w.history.replaceState(w.history.state, "", u.toString());
    } catch (e) { /* a cross-origin host page: the box still works */ }
  });
  document.getElementById(id + "Sub").parentNode.prepend(el("label", { class: "toggle", for: "bands" }, box, "95% bands"));
}

// ------------------------------------------------------------------------------------------ charts

function exporter(format, filename) {  // the file gets the card's title and subtitle as the figure's title
  return { name: "Download as " + format.toUpperCase(), icon: format === "png" ? Plotly.Icons.camera : Plotly.Icons.disk,
    click: (gd) => {
      const c = CHARTS.find((x) => x.id === gd.id);
      const b = gd._fullLayout.margin.b;  // the file gets Plotly's legend: the page's key is HTML (drawKey)
      Plotly.relayout(gd, { "title.text": `${c.title}<br><sup>${c.sub()}</sup>`, "margin.t": 80, showlegend: true,
                            legend: { orientation: "h", x: 0, xref: "container", y: 0, yref: "container", yanchor: "bottom" },
                            "margin.b": b + 70, ...toExport(gd) })
        .then(() => Plotly.downloadImage(gd, { format, filename, scale: format === "png" ? 2 : 1 }))
        .finally(() => Plotly.relayout(gd, { "title.text": "", "margin.t": 34, "margin.b": b, showlegend: false,
                                             shapes: [], annotations: [] }));
    } };
}
const CONFIG = (name) => ({
  responsive: true, displaylogo: false, displayModeBar: true,
  modeBarButtons: [[exporter("png", name), exporter("svg", name)]],
});

function layout(title, x, y, extra) {
  const fs = built && built.presenter ? 19 : 14;
  return Object.assign({
    title: { text: "", font: { size: fs + 3 }, x: 0.02, xanchor: "left" },  // the card's HTML header; exports add it
    font: { size: fs, family: "Source Sans Pro, system-ui, sans-serif" }, plot_bgcolor: "white", paper_bgcolor: "white",
    margin: { l: 64, r: 16, t: 34, b: 56 }, hovermode: "closest", autosize: true, showlegend: false,
    xaxis: { title: { text: x }, gridcolor: "#e8e8e8", zeroline: false, automargin: true },
    yaxis: { title: { text: y }, gridcolor: "#e8e8e8", zeroline: false, automargin: true },
  }, extra || {});  // the legend is HTML under the plot (drawKey): overlays never shrink the plot area
}

function span(values, pad) {  // a fixed axis range: shapes on autoranged axes make Plotly recompute the ranges
  const v = values.filter((x) => x != null && isFinite(x));
  const lo = Math.min(...v), hi = Math.max(...v), d = Math.max(hi - lo, 1e-6) * pad;
  return [lo - d, hi + d];
}

function alphaLine(a) {
  return { type: "line", xref: "x", yref: "paper", x0: a, x1: a, y0: 0, y1: 1, line: { color: "#777", dash: "dot", width: 2 } };
}
function dot(x, y, color, size) {
  return { type: "circle", xref: "x", yref: "y", xsizemode: "pixel", ysizemode: "pixel", xanchor: x, yanchor: y,
           x0: -size, x1: size, y0: -size, y1: size, fillcolor: color, line: { color: "white", width: 1.5 } };
}
const line = (x, y, name, style, more) => Object.assign({ type: "scatter", mode: "lines", x, y, name, line: style }, more || {});

function accuracyChart() {
  const id = "pAcc";
  const note = (data) => {  // from the traces drawn: each thing named with its own glyph and colour
    const idTrace = data.find((t) => t.name === setOf(P.id_name).label), best = data.find((t) => t.name === "best α per set");
    const over = data.filter((t) => t.legendgroup === "overlay"), extra = data.filter((t) => t.legendgroup === "extra");
    const trained = P.endpoints.some((e) => /fine-tun/i.test(e)) ? "fine-tuning" : "training";
    const ood = P.sets.some((set) => set.role === "OOD");
    return "<b>What am I looking at:</b> accuracy of θα on each eval set as α goes from θ0 (left) to θ1 (right). " +
      `${glyph(idTrace)} ${idTrace.name} (thick) is the ID set, from the ${trained} distribution` +
      (ood ? "; the OOD sets are shifts of it. " : ". ") + `${glyph(best)} marks each curve's best α.` +
      (over.length ? ` ${glyph(over[0])} Dashed grey: the compared path${over.length > 2 ? "s" : ""} (ID dashed, avg OOD dotted).` : "") +
      (extra.length ? " Thin dashed: " + extra.map((t) => `${glyph(t)} ${t.name}`).join(", ") + ", the metric its benchmark reports (in %)." : "") +
      (P.ci ? " <b>95% bands</b> (box above the chart): each curve's 95% interval over its set's examples." : "");
  };
  const init = () => {
    const data = P.ci ? bandTraces() : [], bands = data.length;  // under the curves: the first traces
    P.sets.forEach((set) => {
      const y = P.acc[set.name].map((v) => (v == null ? null : 100 * v));
      const bold = set.role === "ID" || set.role === "avg";
      data.push(line(P.alphas, y, set.label, { color: set.color, width: bold ? 4 : 2, dash: set.role === "avg" ? "dash" : "solid" },
        { hovertemplate: "α=%{x:.2f}: %{y:.1f}%<extra>" + set.label + "</extra>", connectgaps: false }));
    });
    (P.extra || []).forEach((ex) => data.push(line(P.alphas, ex.values.map((v) => (v == null ? null : 100 * v)), `${ex.label}: ${ex.metric}`,
      { color: ex.color, width: 2, dash: "dash" }, { legendgroup: "extra", hovertemplate: "α=%{x:.2f}: %{y:.1f}%<extra>" + ex.metric + "</extra>" })));
    const bx = [], by = [], bc = [], bt = [];
    Object.entries(Object.assign({ [P.id_name]: P.marks.best_id }, P.marks.best)).forEach(([n, a]) => {
      if (a == null) return;
      const i = nearest(a);
      bx.push(P.alphas[i]); by.push(100 * P.acc[n][i]); bc.push(setOf(n).color); bt.push("best α for " + setOf(n).label);
    });
    data.push({ type: "scatter", mode: "markers", x: bx, y: by, text: bt, name: "best α per set", showlegend: false,
                marker: { symbol: "triangle-down", size: 11, color: bc, line: { color: "white", width: 1 } },
                hovertemplate: "%{text}: α=%{x:.2f}, %{y:.1f}%<extra></extra>" });
    (P.overlay || []).forEach((o) => {
      data.push(line(o.alphas, o.x.map((v) => (v == null ? null : 100 * v)), o.name + ": ID", { color: "#8a8a8a", width: 2, dash: "dash" },
                     { legendgroup: "overlay" }));
      data.push(line(o.alphas, o.y.map((v) => (v == null ? null : 100 * v)), o.name + ": avg OOD", { color: "#8a8a8a", width: 1.5, dash: "dot" },
                     { legendgroup: "overlay" }));
    });
    const lay = layout("Accuracy along the path", "α", (P.extra || []).length ? "accuracy, dashed: metric (%)" : "accuracy (%)");
    lay.xaxis.range = span(P.alphas, 0.03);
    lay.yaxis.range = span(data.flatMap((t) => t.y), 0.06);  // the bands included: the axis holds when they show
    return Plotly.newPlot(id, data, lay, CONFIG("accuracy_vs_alpha")).then(() => bands && bandToggle(id, bands));
  };
  const shapes = () => {
    const a = P.alphas[cur];
    return [alphaLine(a)].concat(P.sets.filter((set) => P.acc[set.name][cur] != null)
      .map((set) => dot(a, 100 * P.acc[set.name][cur], set.color, 6)))
      .concat((P.extra || []).filter((ex) => ex.values[cur] != null).map((ex) => dot(a, 100 * ex.values[cur], ex.color, 4)));
  };
  return { id, note, init, shapes, title: "Accuracy along the path", sub: () => `at α = ${a2(P.alphas[cur])} (dots)` };
}

function scatterChart() {
  const id = "pScatter", sc = P.scatter, xs = P.acc[P.id_name], ys = P.acc[sc.y_name];
  const note = (data) => {  // from the traces drawn: a baseline or a fit is named only when it is there
    const find = (name) => data.find((t) => t.name === name), fit = data.find((t) => t.legendgroup === "fit");
    const base = find("baselines"), over = data.filter((t) => t.legendgroup === "overlay");
    const ends = [["θ0", P.endpoints[0]], ["θ1", P.endpoints[1]]].filter(([n]) => find(n))
      .map(([n, long]) => `${glyph(find(n))} ${n} = ${long}`);
    let text = "<b>What am I looking at:</b> each point is a model: ID accuracy (x) against OOD accuracy (y), on logit axes";
    if (base) text += `, where standard models fall on a line (${glyph(base)} baseline models, ${glyph(fit)} their fit). ` +
      "Effective robustness (ER) is how far above that fit a model sits. ";
    else if (fit) text += `; ${glyph(fit)} the ${sc.fit_label || "fit"}. Effective robustness (ER) is how far above it a model sits. `;
    else text += ". ";
    return text + `${glyph(find("θα path"))} θα for every α; ${glyph(CURRENT)} the current α; ` + ends.join(", ") + ". " +
      (over.length ? `${glyph(over[0])} compared path${over.length > 1 ? "s" : ""} (in the key). ` : "") + (sc.er_note || "");
  };
  const init = () => {
    const lx = xs.map((v) => (v == null ? null : logit(v))), ly = ys.map((v) => (v == null ? null : logit(v)));
    const data = [line(lx, ly, "θα path", { color: "#1f3b73", width: 4 },
      { customdata: P.alphas.map((a, i) => [a, xs[i] == null ? NaN : 100 * xs[i], ys[i] == null ? NaN : 100 * ys[i]]),
        hovertemplate: "α=%{customdata[0]:.2f}<br>ID %{customdata[1]:.1f}%<br>OOD %{customdata[2]:.1f}%<extra></extra>" })];
    const [r0, r1] = sc.range;
    data.push(line([r0, r1], [r0, r1], "y = x", { color: "#b0b0b0", dash: "dot", width: 1.5 }, { hoverinfo: "skip" }));
    if (sc.baselines.length) {
      data.push({ type: "scatter", mode: "markers", name: "baselines", x: sc.baselines.map((b) => logit(b[1])),
        y: sc.baselines.map((b) => logit(b[2])), text: sc.baselines.map((b) => b[0]),
        marker: { color: "#7f7f7f", size: 9, symbol: "diamond" }, hovertemplate: "%{text}<extra>baseline</extra>" });
    }
    if (sc.fit) data.push(line([r0, r1], [r0, r1].map((v) => sc.fit[0] * v + sc.fit[1]), sc.fit_label ? "fit" : "baselines' fit",
      { color: "#7f7f7f", dash: "dash", width: 2 }, { hoverinfo: "skip", legendgroup: "fit" }));
    (P.overlay || []).forEach((o) => data.push(line(o.x.map((v) => (v == null ? null : logit(v))), o.y.map((v) => (v == null ? null : logit(v))),
      o.name, { color: "#8a8a8a", width: 2, dash: "dash" }, { legendgroup: "overlay" })));
    const g0 = nearest(P.ends[0]), g1 = nearest(P.ends[1]);
    [[g0, "circle", "θ0", P.endpoints[0]], [g1, "square", "θ1", P.endpoints[1]]].forEach(([g, sym, name, long]) => {
      if (lx[g] == null || ly[g] == null) return;
      data.push({ type: "scatter", mode: "markers", x: [lx[g]], y: [ly[g]], name, marker: { symbol: sym, size: 12, color: "#1f3b73" },
                  hovertemplate: name + ": " + long + "<extra></extra>" });
    });
    const axis = { range: sc.range, tickvals: sc.tickvals, ticktext: sc.ticktext, zeroline: false, gridcolor: "#e8e8e8", automargin: true };
    const brk = (t) => (t.length > 12 || built.presenter ? "<br>" : " ");  // long names (WILDS), large type: two lines
    const lay = layout("ID vs OOD accuracy", `ID accuracy (${setOf(P.id_name).label}),${brk(setOf(P.id_name).label)}logit scale`,
                       `${sc.y_label} accuracy,${brk(sc.y_label)}logit scale`);
    lay.xaxis = Object.assign({}, lay.xaxis, axis);
    lay.yaxis = Object.assign({}, lay.yaxis, axis, { scaleanchor: "x", constrain: "domain" });
    lay.xaxis.constrain = "domain";
    return Plotly.newPlot(id, data, lay, CONFIG("robustness_scatter"));
  };
  const shapes = () => {
    const x = xs[cur], y = ys[cur];
    return x == null || y == null ? [] : [dot(logit(x), logit(y), CURRENT.marker.color, 9)];
  };
  const sub = () => `at α = ${a2(P.alphas[cur])}` + (sc.er && sc.er[cur] != null ? ` · ER ${erText()}` : "");
  return { id, note, init, shapes, title: "ID vs OOD accuracy", sub, keyExtra: [CURRENT] };
}

function lossChart() {
  const id = "pLoss";
  const names = Object.keys(P.loss);
  const worst = names.reduce((b, n) => (b == null || P.barrier[n] > P.barrier[b] ? n : b), null);
  const note = "<b>What am I looking at:</b> mean cross-entropy of θα on each set. The dashed <b>chord</b> joins " +
    "the loss at the two ends; the <b>chord barrier</b> (Entezari et al., 2022) is the largest rise of the curve above " +
    "its chord. Near zero, the two weight sets are linearly connected: no mix in between is worse than the chord. " +
    "Frankle et al. (2020) measure from the mean of the two ends instead (see Definitions). " + barrierList(names) + ".";
  const init = () => {
    const data = [];
    const a0 = P.alphas[0], a1 = P.alphas[P.alphas.length - 1];
    names.forEach((n) => {
      const set = setOf(n), l = P.loss[n];
      data.push(line(P.alphas, l, set.label, { color: set.color, width: set.role === "ID" ? 4 : 2 },
        { legendgroup: n, hovertemplate: "α=%{x:.2f}: %{y:.3f}<extra>" + set.label + "</extra>" }));
      data.push(line([a0, a1], [l[0], l[l.length - 1]], set.label + " chord", { color: set.color, width: 1.5, dash: "dash" },
        { legendgroup: n, showlegend: false, hoverinfo: "skip" }));
    });
    const lay = layout("Loss along the path", "α", "cross-entropy (nats)");
    lay.xaxis.range = span(P.alphas, 0.03);
    lay.yaxis.range = span(data.flatMap((t) => t.y), 0.06);
    return Plotly.newPlot(id, data, lay, CONFIG("loss_along_path"));
  };
  const shapes = () => {
    const a = P.alphas[cur];
    return [alphaLine(a)].concat(names.map((n) => dot(a, P.loss[n][cur], setOf(n).color, 5)));
  };
  const sub = () => `at α = ${a2(P.alphas[cur])} · dashed: chords` +
    (worst == null ? "" : ` · largest chord barrier ${barrierText(worst)} (${setOf(worst).label})`);
  return { id, note, init, shapes, title: "Loss along the path", sub };
}

function rect(x0, x1, y0, y1, color, outline, text, where) {  // where: a shape label's position and anchors
  const r = { type: "rect", xref: "x", yref: "y", x0, x1, y0, y1, fillcolor: color,
              line: { width: outline ? 3 : 0, color: "#111" }, layer: "above" };
  if (text != null) r.label = Object.assign({ text, font: { size: 12, color: "#222" }, padding: 5 }, where);
  return r;
}
const key = (name, color) => ({ type: "scatter", mode: "markers", x: [null], y: [null], name, hoverinfo: "skip",
                                marker: { symbol: "square", size: 12, color } });

// Bars are shapes, their numbers shape labels, drawn by drawShapes (measured per step with Plotly drawing them:
// bar traces restyled ~35 ms, shapes with annotations ~80 ms, shapes with labels ~20 ms; drawShapes, ~1 ms).
function flipChart() {
  const id = "pFlips", names = Object.keys(P.flips), ra = P.ref_alpha;
  const filt = P.class_filter ? ` (true class: ${P.class_filter})` : "";
  const note = `<b>What am I looking at:</b> examples that θα gets right but θ at α=${a2(ra)} got wrong (fixed, green) ` +
    `and the reverse (broken, red), per eval set${filt}. Change the compared α, the class or the set above the slider.`;
  const top = Math.max(1, ...names.flatMap((n) => P.flips[n].flatMap((r) => r)));
  const init = () => Plotly.newPlot(id, [key("fixed", FIXED), key("broken", BROKEN)],
    layout("Fixed and broken", "", "examples", {
      xaxis: { range: [-0.5, names.length - 0.5], tickvals: names.map((_, i) => i), ticktext: names.map((n) => setOf(n).label),
               automargin: true, showgrid: false, zeroline: false },
      yaxis: { range: [0, 1.15 * top], gridcolor: "#e8e8e8", title: { text: "examples" }, automargin: true } }),
    CONFIG("fixed_and_broken"));
  const shapes = () => {
    const out = [];
    names.forEach((n, i) => [0, 1].forEach((j) => {
      const v = P.flips[n][cur][j], x0 = j ? i + 0.03 : i - 0.4, x1 = j ? i + 0.4 : i - 0.03;
      out.push(rect(x0, x1, 0, v, j ? BROKEN : FIXED, false, String(v),
                    { textposition: "top center", yanchor: "bottom" }));
    }));
    return out;
  };
  const sub = () => `α = ${a2(ra)} → α = ${a2(P.alphas[cur])}${filt}`;
  return { id, note, init, shapes, title: "Fixed and broken", sub };
}

function classChart() {
  const id = "pClass", C = P.classnames, ra = nearest(P.ref_alpha), MAX = 30;
  const pc = P.per_class, diffAt = (g) => C.map((_, c) => (pc[g][c] == null || pc[ra][c] == null ? null : 100 * (pc[g][c] - pc[ra][c])));
  const top = Math.max(1, ...pc.flatMap((_, g) => diffAt(g).filter((d) => d != null).map(Math.abs)));
  const present = C.map((_, c) => c).filter((c) => pc[ra][c] != null);
  const many = present.length > MAX, shown = Math.min(MAX, present.length);
  const note = `<b>What am I looking at:</b> how each class's accuracy on <b>${P.dataset}</b> changed from α=${a2(P.ref_alpha)} ` +
    `to the current α, in percentage points. Grey stubs: no change.` + (many ? ` The ${MAX} largest changes are shown.` : "") +
    (P.class_filter ? ` Outlined: ${P.class_filter}, the class filter.` : "");
  const ticks = (rows) => ({ tickvals: rows.map((_, k) => k), ticktext: rows.map((c) => C[c]) });
  const height = Math.max(400, 26 * shown + 90);
  const init = () => (document.getElementById(id).style.height = height + "px") && Plotly.newPlot(id, [key("", ZERO)],
    layout("Per-class change", "change (pp)", "", { showlegend: false, margin: { l: 110, r: 40, t: 34, b: 56 }, height,
      xaxis: { range: [-1.25 * top, 1.25 * top], gridcolor: "#e8e8e8", zeroline: true, zerolinecolor: "#999", title: { text: "change (pp)" } },
      yaxis: Object.assign({ range: [shown - 0.5, -0.5], automargin: true, showgrid: false, zeroline: false },
                           ticks(present.slice(0, MAX))) }), CONFIG("per_class_change"));
  const rowsAt = (d) => (many ? present.slice().sort((p, q) => Math.abs(d[q]) - Math.abs(d[p])).slice(0, MAX).sort((p, q) => p - q)
                               : present);
  let lastRows = present.slice(0, MAX).join();
  const axes = () => {  // only with more than MAX classes: the rows shown change with alpha
    const rows = rowsAt(diffAt(cur));
    if (rows.join() === lastRows) return null;
    lastRows = rows.join();
    return { "yaxis.tickvals": ticks(rows).tickvals, "yaxis.ticktext": ticks(rows).ticktext };
  };
  const shapes = () => {
    const d = diffAt(cur), rows = rowsAt(d);
    const stub = top * 0.015, zero = (v) => Math.round(10 * v) === 0, out = [];
    rows.forEach((c, k) => {
      const v = d[c], x1 = zero(v) ? stub : v;
      out.push(rect(0, x1, k - 0.38, k + 0.38, zero(v) ? ZERO : v > 0 ? FIXED : BROKEN, C[c] === P.class_filter,
                    zero(v) ? "0.0" : fmt(v, { signed: true }),
                    x1 >= 0 ? { textposition: "middle right", xanchor: "left" } : { textposition: "middle left", xanchor: "right" }));
    });
    return out;
  };
  const sub = () => `on ${P.dataset}: α = ${a2(P.alphas[ra])} → α = ${a2(P.alphas[cur])}`;
  return { id, note, init, shapes, axes, title: "Per-class change", sub };
}

let CHARTS = null;
function charts() {
  if (CHARTS) return CHARTS;
  if (P.mode === "paths") return (CHARTS = pathCharts());
  CHARTS = [accuracyChart()];
  if (P.scatter) CHARTS.push(scatterChart());
  if (P.loss) CHARTS.push(lossChart());
  if (P.flips) CHARTS.push(flipChart(), classChart());
  if (shown) CHARTS = CHARTS.filter((c) => shown.includes(c.id));  // a lesson step draws a few (args.charts)
  return CHARTS;
}

function drawCharts() {
  pending = false;
  if (!built.ready) return;  // a step before Plotly has drawn the charts: their first draw shows the latest alpha
  lastDraw = performance.now();
  const seq = T.seq;
  const waits = charts().map((c) => {
    document.getElementById(c.id + "Sub").textContent = c.sub();
    const gd = document.getElementById(c.id), axes = c.axes && c.axes();
    gd.__marks = c.shapes();  // what an export hands to Plotly, and what a resize redraws
    return axes ? Plotly.relayout(gd, axes).then(() => drawShapes(gd, gd.__marks)) : drawShapes(gd, gd.__marks);
  });
  Promise.all(waits).then(() => requestAnimationFrame(() => {
    if (seq === T.seq) { T.chartsAt = performance.now(); T.drawnSeq = seq; document.body.dataset.drawn = String(seq); }
    T.firstCharts = T.firstCharts || Date.now();
  }));
}

// The subset of Plotly layout shapes the marks use (a line on x with paper y, a pixel-sized circle, a filled rect
// with an outline and a label), drawn into one SVG layer over the plot area. Axis ranges are fixed (span()), so a
// step moves marks only; a Plotly redraw (resize, export) fires plotly_afterplot, which draws them again.
function drawShapes(gd, shapes) {
  const fl = gd._fullLayout;
  if (!fl || !fl.xaxis || !fl.xaxis.l2p) return;
  const layer = marksLayer(gd, fl), xa = fl.xaxis, ya = fl.yaxis, sz = fl._size;
  const X = (v) => xa._offset + xa.l2p(v), Y = (s, v) => (s.yref === "paper" ? sz.t + (1 - v) * sz.h :
    s.yref === "y2" ? fl.yaxis2._offset + fl.yaxis2.l2p(v) : ya._offset + ya.l2p(v));
  const parts = shapes.map((s) => {
    const ln = s.line || {}, stroke = `stroke="${ln.color || "none"}" stroke-width="${ln.width || 0}"`;
    if (s.type === "line") {
      const dash = ln.dash === "dot" ? ` stroke-dasharray="${Math.max(ln.width, 3)},${Math.max(ln.width, 3)}"` : "";
      return `<line x1="${X(s.x0)}" x2="${X(s.x1)}" y1="${Y(s, s.y0)}" y2="${Y(s, s.y1)}" ${stroke}${dash}/>`;
    }
    if (s.type === "circle") {
      return `<circle cx="${X(s.xanchor)}" cy="${Y(s, s.yanchor)}" r="${s.x1}" fill="${s.fillcolor}" ${stroke}/>`;
    }
    const [x0, x1, y0, y1] = pixelBox(s, X, Y);
    const box = `<rect x="${x0}" y="${y0}" width="${x1 - x0}" height="${y1 - y0}" fill="${s.fillcolor}" ` +
      (ln.width ? stroke : "") + "/>";
    if (!s.label) return box;
    const l = labelSpot(s, X, Y), f = s.label.font || {}, base = { bottom: "text-after-edge", middle: "central" }[l.yanchor];
    const text = String(s.label.text).replace(/&/g, "&amp;").replace(/</g, "&lt;");
    return box + `<text x="${X(l.x) + l.xshift}" y="${Y(s, l.y) - l.yshift}" dominant-baseline="${base}" ` +
      `text-anchor="${{ left: "start", right: "end", center: "middle" }[l.xanchor]}" font-size="${f.size || 12}" ` +
      `font-family="${fl.font.family}" ` +
      `fill="${f.color || "#222"}">${text}</text>`;
  });
  layer.innerHTML = parts.join("");
}

function pixelBox(s, X, Y) {  // a rect's [left, right, top, bottom] in pixels, whichever way the axes run
  const xs = [X(s.x0), X(s.x1)], ys = [Y(s, s.y0), Y(s, s.y1)];
  return [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
}

// Where a rect's label goes, as a Plotly annotation (data x, y, anchors and pixel shifts): outside the bar, `padding`
// px from its top edge ("top center") or its right or left edge ("middle right" / "middle left"). The live layer
// and an export (toExport) place it from this one description.
function labelSpot(s, X, Y) {
  const [l, r, t, b] = pixelBox(s, X, Y), pad = s.label.padding || 0, pos = s.label.textposition;
  const at = (vals, px, P) => vals.find((v) => Math.abs(P(v) - px) < 0.5);
  const x = pos === "middle right" ? at([s.x0, s.x1], r, X) : pos === "middle left" ? at([s.x0, s.x1], l, X) : (s.x0 + s.x1) / 2;
  const y = pos === "top center" ? at([s.y0, s.y1], t, (v) => Y(s, v)) : (s.y0 + s.y1) / 2;
  const xanchor = pos === "middle right" ? "left" : pos === "middle left" ? "right" : "center";
  return { x, y, xanchor, yanchor: pos === "top center" ? "bottom" : "middle",
           xshift: { left: pad, right: -pad, center: 0 }[xanchor], yshift: pos === "top center" ? pad : 0 };
}

function toExport(gd) {  // the marks as Plotly draws them in a PNG/SVG file: shapes, and their labels as annotations
  const fl = gd._fullLayout, xa = fl.xaxis, ya = fl.yaxis, marks = gd.__marks || [];
  const X = (v) => xa._offset + xa.l2p(v), Y = (s, v) => (s.yref === "paper" ? 0 : ya._offset + ya.l2p(v));
  const annotations = marks.filter((s) => s.label).map((s) => {
    const l = labelSpot(s, X, Y), f = s.label.font || {};
    return { x: l.x, y: l.y, xref: "x", yref: "y", text: String(s.label.text), showarrow: false, xanchor: l.xanchor,
             yanchor: l.yanchor, xshift: l.xshift, yshift: l.yshift, borderpad: 0, font: { size: f.size || 12, color: f.color || "#222" } };
  });
  return { shapes: marks.map((s) => Object.assign({}, s, { label: undefined })), annotations };
}

function marksLayer(gd, fl) {  // above the traces, below Plotly's hover layer; never takes the pointer
  let layer = gd.querySelector("svg.marks");
  const host = gd.querySelector(".svg-container");
  if (!layer) {
    layer = document.createElementNS(SVG_NS, "svg");
    layer.setAttribute("class", "marks");
    const svgs = host.querySelectorAll("svg.main-svg");
    host.insertBefore(layer, svgs[svgs.length - 1]);  // the last main-svg holds the hover labels
  }
  layer.setAttribute("width", fl.width);
  layer.setAttribute("height", fl.height);
  return layer;
}

// ------------------------------------------------------------------------------------------ key, caption, frame

const SYMBOLS = { circle: "●", square: "■", diamond: "◆", "triangle-down": "▼", star: "★" };
function glyph(t) {  // a trace's look as inline HTML: a line (solid, dashed, dotted) or its marker, in its colour
  if (!t) return "";
  const mk = t.marker || {}, ln = t.line || {};
  if ((t.mode || "").includes("lines")) {
    const style = { dash: "dashed", dot: "dotted" }[ln.dash] || "solid";
    return `<i class="kl" style="border-top:${Math.min(Math.max(ln.width || 2, 2), 4)}px ${style} ${ln.color}"></i>`;
  }
  return `<i class="km" style="color:${Array.isArray(mk.color) ? "#555" : mk.color}">${SYMBOLS[mk.symbol || "circle"] || "●"}</i>`;
}
const esc = (t) => String(t).replace(/&/g, "&amp;").replace(/</g, "&lt;");

// The chart's legend as HTML under the plot, from the traces drawn (and marks such as CURRENT): Plotly's own legend
// took plot height away as overlays were added (the scatter fell to 155 px at 1024x768). Compared paths fold away
// when there are more than two entries of them. A caption given as a function is written from the same traces.
function drawKey(c) {
  const gd = document.getElementById(c.id), box = document.getElementById(c.id + "Key");
  const items = gd.data.filter((t) => t.showlegend !== false && t.name).concat(c.keyExtra || []);
  const item = (t) => `<span class="ki">${glyph(t)}${esc(t.name)}</span>`;
  const own = items.filter((t) => t.legendgroup !== "overlay"), over = items.filter((t) => t.legendgroup === "overlay");
  box.innerHTML = own.map(item).join("") + (over.length > 2 ? `<details><summary>${over.length} compared curves</summary>` +
    over.map(item).join("") + "</details>" : over.map(item).join(""));
  if (typeof c.note === "function") box.parentNode.querySelector("figcaption").innerHTML = c.note(gd.data);
}

// The frame as tall as the content and never taller: document.documentElement.scrollHeight never drops below the
// frame's own height, so a frame that once grew kept a blank stretch under the last chart.
let fitter = null;
function fitFrame(root) {
  let last = 0;
  const fit = () => {
    const h = Math.ceil(root.getBoundingClientRect().bottom + window.scrollY);
    if (h !== last) { last = h; send("streamlit:setFrameHeight", { height: h }); }
  };
  if (fitter) fitter.disconnect();
  fitter = new ResizeObserver(fit);
  fitter.observe(root);
}

// ------------------------------------------------------------------------------------------ host

window.addEventListener("error", (e) => T.errors.push(String(e.message)));
let rendered = false;
window.addEventListener("message", (ev) => {
  const d = ev.data;
  if (!d || d.type !== "streamlit:render") return;
  rendered = true;
  const args = d.args;
  serverAlpha = args.server_alpha;
  alphaTabs = args.alpha_tabs;
  if (built && built.id === args.payload_id) { syncServer(true); return; }  // e.g. a tab opened: does it need alpha?
  CHARTS = null;
  build(args);
});
// Streamlit listens to the frame from an effect that runs after its first paint; a frame whose files come from the
// browser's cache can post componentReady before that, and a lost one leaves the frame hidden for good (it was, once
// in CI, under load). So it is posted again every 250 ms until the first render arrives; an extra one only re-sends
// the same render.
(function ready() {
  if (rendered) return;
  send("streamlit:componentReady", { apiVersion: 1 });
  setTimeout(ready, 250);
})();
