// Solves the sign-up form's proof-of-work challenge (altcha v1, SHA-256) in the browser.
// Self-hosted: no third-party script or call. Find n with SHA-256(salt + n) == challenge.
//
// The search runs in a Web Worker started from this same file (CSP: script-src 'self' covers
// it). Chromium resolves crypto.subtle.digest of a short input at once, so a loop of awaits
// in the page never yields to the event loop: it held DOMContentLoaded back until the search
// ended (1.4-1.8 s). Where no worker can start, the page searches itself, pausing between
// chunks so that the page stays responsive.
(function () {
  "use strict";

  function hex(buffer) {
    var bytes = new Uint8Array(buffer), out = "";
    for (var i = 0; i < bytes.length; i++) out += (bytes[i] < 16 ? "0" : "") + bytes[i].toString(16);
    return out;
  }

  // The number that solves `challenge`, or null; `pause` (if given) between chunks of work.
  async function search(challenge, pause) {
    var encoder = new TextEncoder();
    for (var n = 0; n <= challenge.max_number; n++) {
      if (pause && n % 500 === 0) await pause();
      var digest = await crypto.subtle.digest("SHA-256", encoder.encode(challenge.salt + n));
      if (hex(digest) === challenge.challenge) return n;
    }
    return null;
  }

  if (typeof document === "undefined") {  // this file, running as the worker
    self.onmessage = function (event) {
      search(event.data).then(function (n) { self.postMessage(n); });
    };
    return;
  }

  var script = document.currentScript;
  var source = document.getElementById("altcha-challenge");
  var field = document.getElementById("altcha");
  var status = document.getElementById("pow-status");
  if (!source || !field) return;
  var form = field.form;
  var button = form.querySelector("button[type=submit]");
  var challenge = JSON.parse(source.textContent);
  var solved = null;
  var waiting = false;
  // The page gives each message in its language (data-* on #pow-status).
  function say(key) { status.textContent = status.getAttribute("data-" + key) || ""; }

  function found(n) {
    if (n === null) {
      say("failed");
      return;
    }
    solved = btoa(JSON.stringify({
      algorithm: challenge.algorithm, challenge: challenge.challenge, number: n,
      salt: challenge.salt, signature: challenge.signature
    }));
    field.value = solved;
    say("done");
    if (waiting) form.submit();
  }

  function searchHere() {
    function run() {
      search(challenge, function () {
        return new Promise(function (resolve) { setTimeout(resolve, 0); });
      }).then(found);
    }
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", run);
    else run();
  }

  function start() {
    if (!window.crypto || !window.crypto.subtle) {
      say("unsupported");
      return;
    }
    if (!window.Worker || !script) {
      searchHere();
      return;
    }
    var worker;
    try {
      worker = new Worker(script.src);
    } catch (error) {
      searchHere();
      return;
    }
    worker.onmessage = function (event) {
      worker.terminate();
      found(event.data);
    };
    worker.onerror = function (event) {
      event.preventDefault();
      worker.terminate();
      searchHere();
    };
    worker.postMessage(challenge);
  }

  form.addEventListener("submit", function (event) {
    if (solved) return;
    event.preventDefault();
    waiting = true;
    button.disabled = true;
    say("finishing");
  });
  start();
})();
