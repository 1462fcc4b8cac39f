// Progressive help only: every page works without it.
// 1. Asks before destructive changes (forms with data-confirm).
// 2. Live pages (body[data-live], the overview and a payment's page) follow the change feed
//    over Server-Sent Events and swap in the page's fresh main content after a change.
"use strict";
document.addEventListener("submit", (event) => {
  const form = event.target;
  const question = form instanceof HTMLFormElement ? form.dataset.confirm : undefined;
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});

(() => {
  const url = document.body.dataset.live;
  if (!url || !window.EventSource || !window.fetch || !window.DOMParser) {
    return;
  }
  let timer = null;
  let refreshes = 0;
  const refresh = async () => {
    timer = null;
    const answer = await fetch(window.location.href, { credentials: "same-origin" });
    if (!answer.ok || answer.redirected) {
      return;
    }
    const fresh = new DOMParser().parseFromString(await answer.text(), "text/html");
    const main = document.getElementById("main");
    const next = fresh.getElementById("main");
    if (!main || !next) {
      return;
    }
    const focused = document.activeElement && main.contains(document.activeElement)
      ? document.activeElement.id : "";
    main.replaceChildren(...Array.from(next.childNodes).map((n) => document.importNode(n, true)));
    if (focused && document.getElementById(focused)) {
      document.getElementById(focused).focus();
    }
    refreshes += 1;
    document.body.dataset.refreshes = String(refreshes);
    const note = document.getElementById("live-note");
    if (note) {
      note.textContent = note.dataset.updated || "";
    }
  };
  const source = new EventSource(url);
  source.addEventListener("change", () => {
    if (timer === null) {
      timer = window.setTimeout(refresh, 300);
    }
  });
  document.body.dataset.transport = "sse";
})();
