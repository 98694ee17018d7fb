// The shared page's host (explorer/share.py inlines it after plotly.js and before live.js). It plays Streamlit's
// part of the component protocol for the unchanged live view: live.js posts `streamlit:componentReady` to
// window.parent, which is this window on a page of its own; the host answers with a `streamlit:render` whose args
// hold the run's embedded payload. It takes `streamlit:setComponentValue` (the slider's alpha, sent when the
// slider rests while the gallery's tab is open) as the gallery's alpha and ignores `streamlit:setFrameHeight`.
// It also fills the page's own parts from #wiseft-data: the run switcher, the lesson's steps, the gallery, the
// definitions and the LMC lab. No request leaves the page.
"use strict";
(function () {
  const D = JSON.parse(document.getElementById("wiseft-data").textContent);
  const $ = (id) => document.getElementById(id);
  const esc = (s) => String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
  const a2 = (a) => a.toFixed(2);
  const near = (xs, a) => xs.reduce((b, x, i) => (Math.abs(x - a) < Math.abs(xs[b] - a) ? i : b), 0);
  const query = new URLSearchParams(location.search);
  let key = D.order.includes(query.get("run")) ? query.get("run") : D.start;
  let askedAlpha = parseFloat(query.get("alpha"));  // a link's ?alpha= (live.js writes it), for the first run shown
  let galleryAlpha = 0, kind = "fixed", gset = null, step = -1, labDrawn = false, images = null;

  window.addEventListener("message", (ev) => {
    const d = ev.data;
    if (!d || !d.isStreamlitMessage) return;  // live.js's messages carry the flag; the host's renders do not
    if (d.type === "streamlit:componentReady") show(key);
    else if (d.type === "streamlit:setComponentValue") { galleryAlpha = +d.value; drawGallery(); }
  });

  // ------------------------------------------------------------------------------------ runs and steps

  function show(k, alpha) {  // draw run k (live.js rebuilds: another payload_id), starting at alpha
    key = k;
    const run = D.runs[k], payload = Object.assign({}, run.payload);
    if (alpha != null) payload.alpha = alpha;
    else if (isFinite(askedAlpha)) payload.alpha = askedAlpha;
    askedAlpha = NaN;
    document.querySelectorAll("#root .js-plotly-plot").forEach((gd) => Plotly.purge(gd));
    window.postMessage({ type: "streamlit:render", args: { payload, payload_id: "share:" + k, key_name: k, presenter: false,
      server_alpha: payload.alpha, alpha_tabs: [D.gallery_tab] } }, "*");
    galleryAlpha = payload.alpha;
    gset = payload.dataset;
    fillRun(run);
    try { const u = new URL(location.href); u.searchParams.set("run", k); history.replaceState(history.state, "", u); }
    catch (e) { /* file:// may refuse; the page works without */ }
  }

  function sliderTo(alpha) {  // the same run: move live.js's slider as a key press would
    const s = $("alpha");
    s.value = near(D.runs[key].payload.alphas, alpha);
    s.dispatchEvent(new Event("input"));
  }

  function fillRun(run) {
    const p = run.payload;
    $("runInfo").textContent = `${run.title}: θ0 = ${p.endpoints[0]}, θ1 = ${p.endpoints[1]}; ${p.classnames.length} classes; ` +
      `eval sets: ${run.sets.map((s) => `${s.name} (${s.role}, ${s.n})`).join(", ")}.`;
    $("runPick").value = run.key;
    $("definitions").innerHTML = run.definitions;
    $("evalSets").innerHTML = run.sets.map((s) => `<li><b>${esc(s.name)}</b> (${s.role}, ${s.n} images): ${s.note}</li>`).join("");
    const names = run.gallery ? Object.keys(run.gallery.sets) : [];
    $("gSet").replaceChildren(...names.map((n) => new Option(n, n, false, n === gset)));
    if (!names.includes(gset)) gset = names[0] || null;
    drawGallery();
  }

  function setupRuns() {
    if (D.order.length > 1) {
      $("runBox").hidden = false;
      $("runPick").replaceChildren(...D.order.map((k) => new Option(D.runs[k].title, k)));
      $("runPick").addEventListener("change", (ev) => show(ev.target.value));
    }
    if (!D.steps.length) return;  // a lesson's steps (explorer/lesson.py): {run, alpha, title, text}
    const box = $("steps");
    box.hidden = false;
    box.innerHTML = `<div class="stepbar"><button type="button" id="stepBack">← back</button><b id="stepTitle"></b>` +
      `<button type="button" id="stepNext">next →</button></div><div id="stepText" class="prose"></div>`;
    $("stepBack").addEventListener("click", () => goStep(step - 1));
    $("stepNext").addEventListener("click", () => goStep(step + 1));
    step = 0;
    key = D.steps[0].run;
    if (!isFinite(askedAlpha)) askedAlpha = D.steps[0].alpha;
    paintStep();
  }

  function goStep(i) {
    if (i < 0 || i >= D.steps.length) return;
    step = i;
    const s = D.steps[i];
    if (s.run !== key) show(s.run, s.alpha); else sliderTo(s.alpha);
    paintStep();
  }

  function paintStep() {
    const s = D.steps[step];
    $("stepTitle").textContent = `Step ${step + 1} of ${D.steps.length}: ${s.title}`;
    $("stepText").innerHTML = s.text;
    $("stepBack").disabled = step === 0;
    $("stepNext").disabled = step === D.steps.length - 1;
  }

  // ------------------------------------------------------------------------------------ tabs

  function setupTabs() {
    const tabs = [...document.querySelectorAll('.tabs [role="tab"]')];
    tabs.forEach((t) => t.addEventListener("click", () => {
      tabs.forEach((o) => { o.setAttribute("aria-selected", String(o === t)); $(o.getAttribute("aria-controls")).hidden = o !== t; });
      if (t.id === "t-gallery") {  // the slider may have moved while another tab was open
        const s = $("alpha");
        if (s) { galleryAlpha = D.runs[key].payload.alphas[+s.value]; drawGallery(); }
      }
      if (t.id === "t-lab") drawLab();
    }));
    $("gSet").addEventListener("change", (ev) => { gset = ev.target.value; drawGallery(); });
    document.querySelectorAll('input[name="gKind"]').forEach((r) => r.addEventListener("change", () => { kind = r.value; drawGallery(); }));
  }

  // ------------------------------------------------------------------------------------ gallery

  function topLine(alpha, row, label, classes) {  // "α=0.50: circle 61%, square 20%, ..." with the true class in bold
    const k = row.length / 2, items = [];
    for (let j = 0; j < k; j++) {
      const t = `${esc(classes[row[j]])} ${row[k + j]}%`;
      items.push(row[j] === label ? `<b>${t}</b>` : t);
    }
    return `α=${a2(alpha)}: ` + items.join(", ");
  }

  function drawGallery() {
    const run = D.runs[key], G = run.gallery, box = $("gallery");
    if (document.readyState === "loading") {  // the images come last in the file, parsed after the first tiles' code
      if (!drawGallery.waiting) document.addEventListener("DOMContentLoaded", drawGallery, { once: true });
      drawGallery.waiting = true;
      return;
    }
    images = images || JSON.parse($("wiseft-images").textContent);
    if (!G || !gset) {
      box.innerHTML = `<p class="note">No gallery in this page: ${G ? "the run's images could not be opened where it was made" : "it was made without one"}.</p>`;
      return;
    }
    const S = G.sets[gset], g = near(G.alphas, galleryAlpha), r = near(G.alphas, G.ref_alpha), a = G.alphas[r], b = G.alphas[g];
    const C = run.payload.classnames, filt = run.payload.class_filter;
    const n = S.counts[g][kind === "fixed" ? 0 : 1], shown = S[kind][g];
    const verb = kind === "fixed" ? "wrong → right" : "right → wrong";
    let out = `<p>Examples at <b>α = ${a2(b)}</b>, the slider above (the gallery follows it when the slider rests).</p>`;
    if (r === g) out += `<p class="info">Both alphas are the same: move the α slider to see which predictions change.</p>`;
    out += `<p id="gHead"><b>${n} ${kind}</b> examples of <i>${esc(gset)}</i> (${verb} from α=${a2(a)} to α=${a2(b)})` +
      (filt ? `, true class <i>${esc(filt)}</i>` : "") + (n > shown.length ? `; the first ${shown.length} shown` : "") + "</p>";
    out += '<div class="thumbs">' + shown.map((j) => {
      const [idx, label, id] = S.items[j], src = images[id];
      const img = src ? `<img src="${src}" alt="${esc(gset)} #${idx}, true class ${esc(C[label])}" width="96" height="96">`
                      : `<span class="note">(image unavailable: ${esc(id)})</span>`;
      return `<figure class="ex" data-index="${idx}">${img}<figcaption>true: <b>${esc(C[label])}</b><br>` +
        `${topLine(a, S.top[r][j], label, C)}<br>${topLine(b, S.top[g][j], label, C)}</figcaption></figure>`;
    }).join("") + "</div>";
    box.innerHTML = out;
  }

  // ------------------------------------------------------------------------------------ the LMC lab

  function drawLab() {
    if (labDrawn) return;
    labDrawn = true;
    const box = $("lab");
    if (!D.lab.length) { box.innerHTML = '<p class="note">No LMC lab in this page.</p>'; return; }
    D.lab.forEach((sec) => {
      const part = document.createElement("article");
      part.className = "labsec";
      part.innerHTML = `<h3>${esc(sec.title)}</h3><div class="prose">${sec.intro}</div><div class="labfigs"></div><div class="prose">${sec.text}</div>`;
      box.append(part);
      sec.figures.forEach((fig) => {
        const div = document.createElement("div");
        div.className = "labfig";
        part.querySelector(".labfigs").append(div);
        Plotly.newPlot(div, fig.data, Object.assign({}, fig.layout, { autosize: true, width: undefined }),
                       { responsive: true, displaylogo: false });
      });
    });
  }

  setupTabs();
  setupRuns();
})();
