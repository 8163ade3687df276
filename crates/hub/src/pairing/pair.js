// The /pair page: look the code up (who asks, from which system, when), then
// confirm. Served as a file so the page runs under a strict CSP.
"use strict";
const $ = (id) => document.getElementById(id);
const query = new URLSearchParams(location.search);
$("code").value = query.get("code") || "";
$("token").value = sessionStorage.getItem("sb_user_token") || "";

function headers() {
  const h = { "content-type": "application/json" };
  const token = $("token").value.trim();
  if (token) h.authorization = "Bearer " + token;
  return h;
}

function say(text, kind) {
  $("out").className = kind || "";
  $("out").textContent = text;
}

async function failed(r) {
  const body = await r.json().catch(() => ({}));
  if (r.status === 401) return "Sign in to the dashboard first (open / in this browser), or paste a user token.";
  return (body.error && body.error.message) || "HTTP " + r.status;
}

$("lookup").addEventListener("submit", async (e) => {
  e.preventDefault();
  sessionStorage.setItem("sb_user_token", $("token").value);
  say("Looking the code up…");
  const r = await fetch("/v1/pair/request?code=" + encodeURIComponent($("code").value), {
    headers: headers(),
    credentials: "same-origin",
  });
  if (!r.ok) return say(await failed(r), "err");
  const req = await r.json();
  $("r-name").textContent = req.machine_name;
  $("r-os").textContent = req.os || "unknown";
  $("r-when").textContent = new Date(req.requested_ms).toLocaleString();
  $("r-id").textContent = req.machine_id || "(new)";
  const repair = $("r-repair");
  repair.hidden = !req.repair;
  if (req.repair) {
    repair.textContent =
      "This re-pairs “" + req.repair.name + "”, which is already paired with this hub. " +
      "Its current token stops working and the computer asking takes its place.";
  }
  $("lookup").hidden = true;
  $("request").hidden = false;
  say("");
});

$("back").addEventListener("click", () => {
  $("request").hidden = true;
  $("lookup").hidden = false;
  say("Nothing was paired.");
});

$("confirm").addEventListener("click", async () => {
  say("Pairing…");
  const r = await fetch("/v1/pair/approve", {
    method: "POST",
    headers: headers(),
    credentials: "same-origin",
    body: JSON.stringify({ user_code: $("code").value }),
  });
  if (!r.ok) return say(await failed(r), "err");
  const body = await r.json();
  $("request").hidden = true;
  say("Paired " + body.machine_name + ". You can close this page.", "ok");
});
