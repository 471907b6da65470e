// Discover: expandable rows, drag-to-zoom on the histogram, query completion,
// saved searches (browser localStorage) and auto-refresh. Log text is never
// turned into HTML here: only textContent, attributes and URLs are set.
"use strict";

function setParams(changes) {
  const url = new URL(window.location.href);
  for (const [k, v] of Object.entries(changes)) {
    if (v === null) url.searchParams.delete(k);
    else url.searchParams.set(k, v);
  }
  url.searchParams.delete("page");
  return url.pathname + url.search;
}

// -- rows ----------------------------------------------------------------------
function toggleRow(row) {
  const detail = row.nextElementSibling;
  if (!detail || !detail.classList.contains("detail")) return;
  detail.hidden = !detail.hidden;
  row.setAttribute("aria-expanded", String(!detail.hidden));
}
document.addEventListener("click", (ev) => {
  const t = ev.target;
  if (!(t instanceof Element) || t.closest("a, button, input, select")) return;
  const row = t.closest("tr.row");
  if (row && !window.getSelection().toString()) toggleRow(row);
});
document.addEventListener("keydown", (ev) => {
  const t = ev.target;
  if (!(t instanceof Element) || !t.matches("tr.row")) return;
  if (ev.key === "Enter" || ev.key === " ") {
    ev.preventDefault();
    toggleRow(t);
  } else if (ev.key === "ArrowDown" || ev.key === "j") {
    const next = t.closest("tbody").nextElementSibling;
    if (next) { ev.preventDefault(); next.querySelector("tr.row")?.focus(); }
  } else if (ev.key === "ArrowUp" || ev.key === "k") {
    const prev = t.closest("tbody").previousElementSibling;
    if (prev && prev.tagName === "TBODY") { ev.preventDefault(); prev.querySelector("tr.row")?.focus(); }
  }
});

// -- histogram: drag to zoom, click a bar to zoom to it ---------------------------
function initHistogram() {
  const svg = document.getElementById("histo");
  if (!svg) return;
  const sel = document.getElementById("zoomsel");
  const start = Number(svg.dataset.start), end = Number(svg.dataset.end), width = Number(svg.dataset.width);
  const toX = (ev) => {
    const r = svg.getBoundingClientRect();
    return Math.max(0, Math.min(width, ((ev.clientX - r.left) / r.width) * width));
  };
  const toTime = (x) => Math.round(start + (x / width) * (end - start));
  let x0 = null;
  svg.addEventListener("mousedown", (ev) => {
    ev.preventDefault();
    x0 = toX(ev);
    sel.setAttribute("x", String(x0));
    sel.setAttribute("width", "0");
  });
  svg.addEventListener("mousemove", (ev) => {
    if (x0 === null) return;
    const x = toX(ev);
    sel.setAttribute("x", String(Math.min(x0, x)));
    sel.setAttribute("width", String(Math.abs(x - x0)));
  });
  const finish = (ev) => {
    if (x0 === null) return;
    const x1 = toX(ev), a = Math.min(x0, x1), b = Math.max(x0, x1);
    x0 = null;
    let from, to;
    if (b - a >= 3) {
      from = toTime(a); to = toTime(b);
    } else {
      const bar = ev.target instanceof Element ? ev.target.closest("rect[data-t]") : null;
      if (!bar) { sel.setAttribute("width", "0"); return; }
      from = Number(bar.dataset.t);
      to = from + Math.max(1000, ((Number(bar.getAttribute("width")) + 1) / width) * (end - start)) - 1;
    }
    window.location.href = setParams({
      from: new Date(from).toISOString(),
      to: new Date(to).toISOString(),
    });
  };
  svg.addEventListener("mouseup", finish);
  svg.addEventListener("mouseleave", (ev) => { if (x0 !== null) finish(ev); });
}

// -- completion of field names and keyword values ---------------------------------
function initCompletion() {
  const q = document.getElementById("q"), list = document.getElementById("qcomp");
  if (!q || !list) return;
  let fields = null, timer = null, seq = 0;
  const fill = (values) => {
    list.replaceChildren(...values.slice(0, 30).map((v) => {
      const o = document.createElement("option");
      o.value = v;
      return o;
    }));
  };
  const complete = async () => {
    const mine = ++seq;
    const text = q.value.slice(0, q.selectionStart ?? q.value.length);
    const m = /([A-Za-z_@][\w.@]*)(?:(:)\s*"?([^\s"()]*))?$/.exec(text);
    if (!m) return fill([]);
    const before = text.slice(0, m.index);
    try {
      if (m[2]) {
        const u = "/api/values?field=" + encodeURIComponent(m[1]) + "&prefix=" + encodeURIComponent(m[3] || "");
        const r = await (await fetch(u)).json();
        if (mine !== seq) return;
        fill((r.values || []).map((v) => before + m[1] + ':"' + v.replace(/["\\]/g, "\\$&") + '"'));
      } else {
        if (fields === null) fields = (await (await fetch("/api/fields")).json()).fields || [];
        if (mine !== seq) return;
        const p = m[1].toLowerCase();
        fill(fields.filter((f) => f.toLowerCase().startsWith(p) && f !== m[1]).map((f) => before + f + ":"));
      }
    } catch (e) {
      fill([]);
    }
  };
  q.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(complete, 120);
  });
}

// -- saved searches: name -> URL, in this browser's localStorage ---------------------
const SAVED_KEY = "ci-log-search.saved";
function loadSaved() {
  try {
    const v = JSON.parse(localStorage.getItem(SAVED_KEY) || "{}");
    return v && typeof v === "object" ? v : {};
  } catch (e) {
    return {};
  }
}
function initSaved() {
  const select = document.getElementById("saved");
  const name = document.getElementById("save-name");
  const save = document.getElementById("save-btn");
  const del = document.getElementById("saved-del");
  if (!select) return;
  const render = (selected) => {
    const saved = loadSaved();
    const head = document.createElement("option");
    head.value = "";
    head.textContent = "Saved searches (" + Object.keys(saved).length + ")…";
    const opts = Object.keys(saved).sort().map((n) => {
      const o = document.createElement("option");
      o.value = n;
      o.textContent = n;
      o.selected = n === selected;
      return o;
    });
    select.replaceChildren(head, ...opts);
  };
  render();
  select.addEventListener("change", () => {
    const url = loadSaved()[select.value];
    if (typeof url === "string" && url.startsWith("/discover")) window.location.href = url;
  });
  save.addEventListener("click", () => {
    const q = document.getElementById("q");
    const n = (name.value || (q && q.value) || "search").trim().slice(0, 100);
    const saved = loadSaved();
    saved[n] = window.location.pathname + window.location.search;
    localStorage.setItem(SAVED_KEY, JSON.stringify(saved));
    name.value = "";
    render(n);
  });
  name.addEventListener("keydown", (ev) => { if (ev.key === "Enter") { ev.preventDefault(); save.click(); } });
  del.addEventListener("click", () => {
    const saved = loadSaved();
    if (!select.value) return;
    delete saved[select.value];
    localStorage.setItem(SAVED_KEY, JSON.stringify(saved));
    render();
  });
}

// -- auto-refresh ---------------------------------------------------------------
function initRefresh() {
  const sel = document.getElementById("refresh");
  if (!sel) return;
  sel.addEventListener("change", () => {
    window.location.href = setParams({ refresh: sel.value === "0" ? null : sel.value });
  });
  const secs = Number(sel.value);
  if (secs > 0) {
    const tick = () => {
      const busy = document.activeElement && /^(INPUT|SELECT)$/.test(document.activeElement.tagName);
      const open = document.querySelector("tr.row[aria-expanded=true]");
      if (busy || open || document.hidden) setTimeout(tick, secs * 1000);
      else window.location.reload();
    };
    setTimeout(tick, secs * 1000);
  }
}

initHistogram();
initCompletion();
initSaved();
initRefresh();
