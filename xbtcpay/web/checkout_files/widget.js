/* xbtcpay payment widget: <script src="https://PUBLIC/widget.js" data-payment="ID"></script>
   renders the payment's checkout page in an iframe right after the script tag. When the
   payment is paid the shop's page receives a "xbtcpay:paid" message (window "message"
   event) and the script element dispatches a bubbling "xbtcpay:paid" DOM event. */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) { return; }
  var id = script.getAttribute("data-payment");
  if (!id) { return; }
  var origin = new URL(script.src, window.location.href).origin;
  var query = "?embed=1&origin=" + encodeURIComponent(window.location.origin);
  var lang = script.getAttribute("data-lang");
  if (lang) { query += "&lang=" + encodeURIComponent(lang); }
  var frame = document.createElement("iframe");
  frame.src = origin + "/pay/" + encodeURIComponent(id) + query;
  frame.title = script.getAttribute("data-title") || "Payment";
  frame.setAttribute("allow", "clipboard-write");
  frame.className = "xbtcpay-widget";
  frame.style.width = "100%";
  frame.style.maxWidth = "34rem";
  frame.style.height = "40rem";
  frame.style.border = "0";
  script.parentNode.insertBefore(frame, script.nextSibling);
  window.addEventListener("message", function (ev) {
    var data = ev.data;
    if (ev.origin !== origin || ev.source !== frame.contentWindow || !data || data.payment !== id) {
      return;
    }
    if (data.type === "xbtcpay:resize") {
      frame.style.height = Math.max(200, Math.min(4000, Number(data.height) || 0)) + "px";
    } else if (data.type === "xbtcpay:paid") {
      script.dispatchEvent(new CustomEvent("xbtcpay:paid", { bubbles: true, detail: data }));
    }
  });
})();
