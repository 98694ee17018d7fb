// The live view's paths mode (explorer/live.js draws the page; explorer/paths.py builds the payload): several
// straight paths in weight space moved by one slider, for the lesson's "four paths, one slider" and the lab page.
// Loaded after live.js (index.html) and using its helpers (el, esc, glyph, layout, line, dot, alphaLine, span, pct).
"use strict";

// Several weight-space paths moved by one slider (the lesson's "four paths, one slider"; the lab page): one panel per
// path, or per family of paths, with the loss on top (the barrier shaded between the curve and its chord) and the
// accuracy below. Q is the payload (explorer.paths.paths_payload), pa a panel, cv a curve. Panels measured on another
// grid than the slider's show their nearest measured alpha.
function pathsFormula() {
  const Q = P;
  return `${Q.title}: θα = (1 − α)·θ0 + α·θ1 on every path at once; each panel names its θ0 (α = 0) and θ1 (α = 1). ` +
    "Drag, or focus the slider and use the arrow keys.";
}

function pathsKey() {  // one key for every panel (their own keys are hidden): the curves' looks, from the first panel's
  const Q = P, box = el("div", { class: "key pathskey" });
  Q.panels[0].curves.forEach((cv) => {
    const look = { mode: "lines", line: { color: cv.color, width: cv.width, dash: cv.loss ? "solid" : "dash" } };
    box.insertAdjacentHTML("beforeend", `<span class="ki">${glyph(look)}${esc(cv.label)}</span>`);
  });
  box.insertAdjacentHTML("beforeend", `<span class="ki"><i class="kl" style="border-top:2px dashed #555"></i>chord</span>` +
    `<span class="ki"><i class="km" style="color:${fade(Q.panels[0].curves[0].color, 0.35)}">■</i>barrier (above the chord)</span>`);
  return box;
}

const nearestOn = (grid, a) => grid.reduce((b, x, i) => (Math.abs(x - a) < Math.abs(grid[b] - a) ? i : b), 0);
const fade = (hex, o) => `rgba(${[1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)).join(",")},${o})`;
const nats = (v) => (v == null ? "n/a" : (v < 0 ? "−" : "") + Math.abs(v).toFixed(3));

function pathCharts() {  // one loss scale and one accuracy scale for every panel: a flat path looks flat beside a ridge
  const Q = P, all = (k) => Q.panels.flatMap((pa) => pa.curves.flatMap((cv) => cv[k] || []));
  const scale = { loss: [0, 1.08 * Math.max(...all("loss").filter((v) => v != null))], acc: [0, 104] };
  return Q.panels.map((pa) => pathChart(pa, scale));
}

function pathChart(pa, scale) {
  const id = "pPath" + pa.id, xs = pa.alphas, first = xs[0], last = xs[xs.length - 1];
  const chord = (v) => xs.map((a) => v[0] + (v[v.length - 1] - v[0]) * (a - first) / (last - first));
  const note = `<b>${esc(pa.title)}</b>: α = 0 is ${esc(pa.ends[0])}, α = 1 is ${esc(pa.ends[1])}. ${pa.note}`;
  const init = () => {
    const data = [];
    pa.curves.forEach((cv) => {
      if (cv.loss) {
        data.push(line(xs, chord(cv.loss), cv.label + " chord", { color: cv.color, width: 1, dash: "dash" },
                       { showlegend: false, hoverinfo: "skip" }));
        data.push(line(xs, cv.loss, cv.label, { color: cv.color, width: cv.width },
          { fill: cv.shade ? "tonexty" : "none", fillcolor: fade(cv.color, 0.18),
            hovertemplate: "α=%{x:.2f}: %{y:.3f} nats<extra>" + esc(cv.label) + "</extra>" }));
      }
      if (cv.acc) data.push(line(xs, cv.acc.map((v) => (v == null ? null : 100 * v)), cv.label + " (accuracy)",
        { color: cv.color, width: cv.width, dash: cv.loss ? "solid" : "dash" },
        { yaxis: "y2", showlegend: !cv.loss, hovertemplate: "α=%{x:.2f}: %{y:.1f}%<extra>" + esc(cv.label) + "</extra>" }));
    });
    const lay = layout("", "α", "loss (nats)", { margin: { l: 56, r: 10, t: 10, b: 44 } });
    lay.xaxis = Object.assign(lay.xaxis, { range: span(xs, 0.03), anchor: "y2" });  // ticks under the accuracy panel
    lay.yaxis = Object.assign(lay.yaxis, { domain: [0.54, 1], range: scale.loss });
    lay.yaxis2 = { domain: [0, 0.46], anchor: "x", title: { text: "accuracy (%)" }, gridcolor: "#e8e8e8", zeroline: false,
                   automargin: true, range: scale.acc };
    return Plotly.newPlot(id, data, lay, CONFIG("path_" + pa.id));
  };
  const shapes = () => {
    const a = P.alphas[cur], j = nearestOn(xs, a), out = [alphaLine(xs[j])];
    pa.curves.forEach((cv) => {
      if (cv.loss && cv.loss[j] != null) out.push(dot(xs[j], cv.loss[j], cv.color, 5));
      if (cv.acc && cv.acc[j] != null) out.push(Object.assign(dot(xs[j], 100 * cv.acc[j], cv.color, 5), { yref: "y2" }));
    });
    return out;
  };
  const sub = () => {
    const j = nearestOn(xs, P.alphas[cur]);
    return `α = ${a2(xs[j])}` + (Math.abs(xs[j] - P.alphas[cur]) > 1e-9 ? " (nearest measured)" : "") +
      (pa.curves[0].barrier == null ? "" : ` · barrier ${nats(pa.curves[0].barrier)} nats`);
  };
  return { id, note, init, shapes, title: pa.title, sub };
}

function drawPathTiles() {  // per panel: its first curve's accuracy and loss at the slider's alpha, and its barrier
  const Q = P;
  document.getElementById("tiles").innerHTML = Q.panels.map((pa) => {
    const cv = pa.curves[0], j = nearestOn(pa.alphas, Q.alphas[cur]);
    return `<div class="tile" data-set="${pa.id}"><div class="tl"><i style="background:${cv.color}"></i>${esc(pa.title)}</div>` +
      `<div class="tv">${cv.acc ? pct(cv.acc[j]) : nats(cv.loss[j])}</div>` +
      `<div class="td flat">${cv.loss ? `loss ${nats(cv.loss[j])}` : ""}${cv.barrier == null ? "" : ` · barrier ${nats(cv.barrier)}`}</div></div>`;
  }).join("");
}

