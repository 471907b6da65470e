// Shared by every page: "/" focuses the query box (as in Kibana and GitHub).
"use strict";
document.addEventListener("keydown", (ev) => {
  if (ev.key !== "/" || ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const t = ev.target;
  if (t instanceof HTMLElement && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName))) return;
  const q = document.getElementById("q");
  if (q) {
    ev.preventDefault();
    q.focus();
    q.select();
  }
});
