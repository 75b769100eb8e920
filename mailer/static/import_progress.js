// Live progress of a subscriber import on its admin page: polls the job's JSON while it is
// queued or running, then reloads the page once, which shows the counts or the error.
(function () {
  "use strict";
  var box = document.getElementById("import-progress");
  if (!box || (box.dataset.status !== "queued" && box.dataset.status !== "running")) return;
  var bar = box.querySelector("progress");
  function set(name, value) {
    var el = box.querySelector('[data-field="' + name + '"]');
    if (el) el.textContent = value;
  }
  function tick() {
    fetch(box.dataset.url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (p) {
        set("status", p.status); set("rows_done", p.rows_done); set("rows_total", p.rows_total || "…");
        bar.max = p.rows_total || 1; bar.value = p.rows_done;
        if (p.status === "done" || p.status === "failed") window.location.reload();
        else setTimeout(tick, 1000);
      })
      .catch(function () { setTimeout(tick, 5000); });
  }
  tick();
})();
