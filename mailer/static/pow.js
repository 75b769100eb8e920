// Solves the sign-up form's proof-of-work challenge (altcha v1, SHA-256) in the browser.
// Self-hosted: no third-party script or call. Find n with SHA-256(salt + n) == challenge.
(function () {
  "use strict";
  var source = document.getElementById("altcha-challenge");
  var field = document.getElementById("altcha");
  var status = document.getElementById("pow-status");
  if (!source || !field) return;
  var form = field.form;
  var button = form.querySelector("button[type=submit]");
  var challenge = JSON.parse(source.textContent);
  var solved = null;
  // The page gives each message in its language (data-* on #pow-status).
  function say(key) { status.textContent = status.getAttribute("data-" + key) || ""; }
  var waiting = false;

  function hex(buffer) {
    var bytes = new Uint8Array(buffer), out = "";
    for (var i = 0; i < bytes.length; i++) out += (bytes[i] < 16 ? "0" : "") + bytes[i].toString(16);
    return out;
  }

  async function solve() {
    if (!window.crypto || !window.crypto.subtle) {
      say("unsupported");
      return;
    }
    var encoder = new TextEncoder();
    for (var n = 0; n <= challenge.max_number; n++) {
      var digest = await crypto.subtle.digest("SHA-256", encoder.encode(challenge.salt + n));
      if (hex(digest) === challenge.challenge) {
        solved = btoa(JSON.stringify({
          algorithm: challenge.algorithm, challenge: challenge.challenge, number: n,
          salt: challenge.salt, signature: challenge.signature
        }));
        field.value = solved;
        say("done");
        if (waiting) form.submit();
        return;
      }
    }
    say("failed");
  }

  form.addEventListener("submit", function (event) {
    if (solved) return;
    event.preventDefault();
    waiting = true;
    button.disabled = true;
    say("finishing");
  });
  solve();
})();
