// Log viewer and context: level filter, line wrapping, #L120-L140 ranges.
// Loaded without defer and driven by event delegation, so it works while a big
// log is still streaming in.
"use strict";
(function () {
  const root = document.documentElement;
  const LEVEL_KEY = "ci-log-search.level";
  const applyLevel = (v) => {
    root.classList.toggle("lv-nodebug", v === "nodebug");
    root.classList.toggle("lv-warning", v === "warning");
  };
  let level = "all";
  try { level = localStorage.getItem(LEVEL_KEY) || "all"; } catch (e) { /* private mode */ }
  applyLevel(level);

  document.addEventListener("change", (ev) => {
    const t = ev.target;
    if (t.id === "level") {
      applyLevel(t.value);
      try { localStorage.setItem(LEVEL_KEY, t.value); } catch (e) { /* ignore */ }
    } else if (t.id === "wrap") {
      document.getElementById("log")?.classList.toggle("wrap", t.checked);
    }
  });

  let anchor = null;
  document.addEventListener("click", (ev) => {
    const a = ev.target instanceof Element ? ev.target.closest(".log div > a:first-child") : null;
    if (!a || a.getAttribute("href").split("#")[0]) return; // links to another page
    const n = Number(a.parentElement.id.slice(1));
    if (ev.shiftKey && anchor !== null) {
      ev.preventDefault();
      const lo = Math.min(anchor, n), hi = Math.max(anchor, n);
      history.replaceState(null, "", "#L" + lo + "-L" + hi);
      mark(false);
    } else {
      anchor = n;
      if (location.hash === "#L" + n) { ev.preventDefault(); mark(false); }
    }
  });

  function mark(scroll) {
    document.querySelectorAll(".log div.sel").forEach((d) => d.classList.remove("sel"));
    const m = /^#L(\d+)(?:-L?(\d+))?$/.exec(location.hash);
    if (!m) return;
    const lo = Number(m[1]), hi = Math.min(Number(m[2] || m[1]), lo + 100000);
    let first = null;
    for (let i = Math.min(lo, hi); i <= Math.max(lo, hi); i++) {
      const d = document.getElementById("L" + i);
      if (!d) continue;
      d.classList.add("sel");
      if (!first) first = d;
    }
    if (anchor === null) anchor = lo;
    if (first && scroll) first.scrollIntoView({ block: "center" });
  }
  window.addEventListener("hashchange", () => mark(false));
  document.addEventListener("DOMContentLoaded", () => {
    const sel = document.getElementById("level");
    if (sel) sel.value = level;
    mark(true);
  });
})();
