// Live delivery progress on the admin digest page: polls progress.json, shows rate and ETA.
(function () {
  "use strict";
  var box = document.getElementById("progress");
  if (!box) return;
  var bar = box.querySelector("progress");
  var last = null;
  function set(name, value) {
    var el = box.querySelector('[data-field="' + name + '"]');
    if (el) el.textContent = value;
  }
  function duration(seconds) {
    if (!isFinite(seconds)) return "–";
    if (seconds < 90) return Math.round(seconds) + " s";
    if (seconds < 5400) return Math.round(seconds / 60) + " min";
    return (seconds / 3600).toFixed(1) + " h";
  }
  function tick() {
    fetch(box.dataset.url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (p) {
        var now = Date.now() / 1000;
        set("sent", p.sent); set("failed", p.failed); set("remaining", p.remaining);
        set("status", p.status);
        var reason = box.querySelector('[data-field="pause_reason"]');
        if (reason) { reason.textContent = p.pause_reason || ""; reason.hidden = !p.pause_reason; }
        // Started, paused (by itself too) or finished meanwhile: reload once, for its controls.
        if (box.dataset.status !== p.status) { location.reload(); return; }
        if (p.bounced !== undefined) { set("bounced", p.bounced); set("complaints", p.complaints); }
        bar.max = p.total || 1; bar.value = p.sent + p.failed + p.skipped;
        if (last && now > last.t) {
          var rate = (p.sent - last.sent) / (now - last.t);
          set("rate", rate.toFixed(1));
          set("eta", rate > 0 ? duration(p.remaining / rate) : "–");
        }
        last = { t: now, sent: p.sent };
        if (p.status === "starting" || p.status === "sending" || p.status === "paused") {
          setTimeout(tick, p.status === "starting" ? 500 : 2000);
        }
      })
      .catch(function () { setTimeout(tick, 5000); });
  }
  tick();
})();
