/* The checkout page's live part: countdown, copy buttons, updates by Server-Sent Events
   with polling of status.json as the fallback. Without it the page refreshes itself. */
(function () {
  "use strict";
  var root = document.getElementById("checkout");
  if (!root) { return; }
  var id = root.getAttribute("data-payment");
  var embed = root.getAttribute("data-embed") === "1";
  var parentOrigin = root.getAttribute("data-origin");
  var lang = document.documentElement.getAttribute("lang") || "en";
  var base = "/pay/" + encodeURIComponent(id);
  var offset = null, source = null, pollTimer = null, failures = 0, refreshing = false;
  var lastExpiredRefresh = 0;

  function view() { return document.getElementById("view"); }

  function tell(message) {
    if (!embed || !parentOrigin || window.parent === window) { return; }
    message.payment = id;
    window.parent.postMessage(message, parentOrigin);
  }

  function sync() {
    var v = view();
    if (offset === null) {  // the server's clock minus this one, measured once at load
      offset = Number(v.getAttribute("data-now")) * 1000 - Date.now();
    }
    tell({ type: "xbtcpay:resize", height: document.body.scrollHeight });
    tell({ type: "xbtcpay:status", status: v.getAttribute("data-status") });
    if (v.getAttribute("data-status") === "paid") { tell({ type: "xbtcpay:paid", status: "paid" }); }
    if (v.getAttribute("data-live") !== "1") { stop(); }
    tick();
  }

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  function tick() {
    var v = view(), clock = document.getElementById("countdown");
    var expires = v.getAttribute("data-expires");
    if (!clock || !expires) { return; }
    var left = Math.floor(Number(expires) - (Date.now() + offset) / 1000);
    if (left <= 0) {
      clock.textContent = root.getAttribute("data-expiring");
      if (Date.now() - lastExpiredRefresh > 5000) { lastExpiredRefresh = Date.now(); refresh(); }
      return;
    }
    var h = Math.floor(left / 3600), m = Math.floor((left % 3600) / 60), s = left % 60;
    clock.textContent = h ? h + ":" + pad(m) + ":" + pad(s) : pad(m) + ":" + pad(s);
  }

  function refresh() {
    if (refreshing) { return; }
    refreshing = true;
    var option = view().getAttribute("data-option") || "";
    fetch(base + "/view?lang=" + encodeURIComponent(lang) + "&option=" + encodeURIComponent(option),
          { cache: "no-store" })
      .then(function (r) { if (!r.ok) { throw new Error(String(r.status)); } return r.text(); })
      .then(function (html) { view().outerHTML = html; sync(); })
      .catch(function () { /* the next event or poll tries again */ })
      .then(function () { refreshing = false; });
  }

  function keyOf(doc) {
    return [doc.status, doc.confirmations, doc.amount_received,
            doc.late ? 1 : 0, doc.overpaid ? 1 : 0, doc.reorged ? 1 : 0].join("|");
  }

  function onStatus(doc) {
    if (keyOf(doc) !== view().getAttribute("data-key")) { refresh(); }
  }

  function poll() {
    if (pollTimer) { return; }
    root.setAttribute("data-transport", "poll");
    pollTimer = window.setInterval(function () {
      fetch("/" + encodeURIComponent(id) + "/status.json", { cache: "no-store" })
        .then(function (r) { return r.json(); }).then(onStatus).catch(function () {});
    }, 3000);
  }

  function connect() {
    if (!window.EventSource || root.getAttribute("data-transport") === "poll") { poll(); return; }
    source = new EventSource(base + "/events");
    root.setAttribute("data-transport", "sse");
    source.addEventListener("status", function (ev) { failures = 0; onStatus(JSON.parse(ev.data)); });
    source.onerror = function () {
      failures += 1;
      if (source && (source.readyState === 2 || failures > 3)) { source.close(); source = null; poll(); }
    };
  }

  function stop() {
    if (source) { source.close(); source = null; }
    if (pollTimer) { window.clearInterval(pollTimer); pollTimer = null; }
  }

  function copy(button) {
    var input = document.getElementById(button.getAttribute("data-copy"));
    if (!input) { return; }
    var done = function () {
      var label = button.textContent;
      button.textContent = root.getAttribute("data-copied");
      window.setTimeout(function () { button.textContent = label; }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(done, function () { input.select(); });
    } else { input.select(); document.execCommand("copy"); done(); }
  }

  document.addEventListener("click", function (ev) {
    var target = ev.target;
    if (target && target.closest) { target = target.closest("button.copy"); }
    if (target && target.getAttribute && target.getAttribute("data-copy")) { copy(target); }
  });
  var hint = document.getElementById("live-hint");
  if (hint && view().getAttribute("data-live") === "1") { hint.hidden = false; }
  if (view().getAttribute("data-live") === "1") { connect(); }
  window.setInterval(tick, 1000);
  sync();
})();
