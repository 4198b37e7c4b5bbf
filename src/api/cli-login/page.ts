/**
 * The built-in approval page, GET /device?code=XXXX-XXXX#token=<session token>.
 *
 * The host app sends its signed-in user here with an end-user session token carrying `cli:approve` in the URL
 * fragment (never sent to any server, removed from the address bar at once). The page shows who asked (project,
 * device name, code, address, user agent, time, scopes) and where the browser goes once the user decides, before
 * they decide, and calls the approval API with that token; after approval the browser goes to the CLI's callback URL
 * when it gave one, and nowhere else.
 *
 * Safety: the GET changes nothing; every change is a POST carrying the token in a header, which a cross-site page
 * cannot send without a CORS preflight that latchkey refuses. The page may not be framed, keeps no cache, sends no
 * referrer, and runs only its own inline script and style, admitted by hash.
 */
import { sha256Bytes } from "../../lib/crypto.ts";

const STYLE = `
body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f6f6f4;color:#1c1c1c}
main{max-width:34rem;margin:4rem auto;padding:2rem;background:#fff;border-radius:12px;box-shadow:0 1px 4px #0002}
h1{font-size:1.3rem;margin:0 0 1rem}
dl{display:grid;grid-template-columns:auto 1fr;gap:.4rem 1rem;margin:1rem 0}
dt{color:#666}dd{margin:0;word-break:break-word}
.code{font:600 1.6rem ui-monospace,monospace;letter-spacing:.15em}
.actions{display:flex;gap:1rem;margin-top:1.5rem}
button{font:inherit;padding:.6rem 1.4rem;border-radius:8px;border:1px solid #888;background:#fff;cursor:pointer}
button.approve{background:#1c5c3c;color:#fff;border-color:#1c5c3c}
[hidden]{display:none}.error{color:#a01b1b}
`;

const SCRIPT = `
(function () {
  var query = new URLSearchParams(location.search);
  var code = query.get("code") || "";
  var token = new URLSearchParams(location.hash.slice(1)).get("token");
  history.replaceState(null, "", location.pathname + location.search);
  var $ = function (id) { return document.getElementById(id); };
  function show(id) { ["loading", "details", "done", "problem"].forEach(function (x) { $(x).hidden = x !== id; }); }
  function problem(text) { $("problem-text").textContent = text; show("problem"); }
  function call(method, path) {
    return fetch(path, {
      method: method,
      headers: method === "GET"
        ? { "x-session-token": token }
        : { "x-session-token": token, "content-type": "application/json" },
      body: method === "GET" ? undefined : "{}",
      credentials: "omit",
      cache: "no-store",
    }).then(function (response) {
      return response.json().then(function (body) {
        if (!response.ok) throw new Error((body.error && body.error.message) || "The request was refused.");
        return body;
      });
    });
  }
  if (!token) return problem("Open this page from your app: it needs your sign-in to approve a login.");
  var base = "/v1/api/auth/codes/" + encodeURIComponent(code);
  call("GET", base).then(function (session) {
    if (session.status !== "pending") {
      return problem("This login request is no longer waiting (" + session.status + ").");
    }
    $("device").textContent = session.device_name || "(unnamed device)";
    $("code").textContent = session.user_code;
    $("ip").textContent = session.requester_ip || "unknown";
    $("agent").textContent = session.requester_user_agent || "unknown";
    $("time").textContent = new Date(session.created_at).toLocaleString();
    var scopes = session.scopes && session.scopes.length ? session.scopes.join(", ") : "the default scopes";
    $("scopes").textContent = scopes;
    $("project").textContent = session.project.name;
    $("next").textContent = session.callback_host
      ? "your browser goes to " + session.callback_host
      : "you stay on this page";
    show("details");
  }).catch(function (error) { problem(error.message); });
  function decide(action, message) {
    $("approve").disabled = $("deny").disabled = true;
    call("POST", base + "/" + action).then(function (result) {
      $("done-text").textContent = message;
      show("done");
      if (result.callback_url) location.assign(result.callback_url);
    }).catch(function (error) { problem(error.message); });
  }
  $("approve").addEventListener("click", function () {
    decide("approve", "Approved. You can return to your terminal.");
  });
  $("deny").addEventListener("click", function () { decide("deny", "Denied. The device gets no access."); });
})();
`;

function cspHash(text: string): string {
  return `'sha256-${Buffer.from(sha256Bytes(text)).toString("base64")}'`;
}

const APPROVAL_PAGE_CSP = [
  "default-src 'none'",
  `script-src ${cspHash(SCRIPT)}`,
  `style-src ${cspHash(STYLE)}`,
  "connect-src 'self'",
  "img-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

export const APPROVAL_PAGE_HEADERS: Record<string, string> = {
  "content-type": "text/html; charset=utf-8",
  "content-security-policy": APPROVAL_PAGE_CSP,
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
  "cache-control": "no-store",
};

export const APPROVAL_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Approve a command-line login</title>
<style>${STYLE}</style>
</head>
<body>
<main>
  <h1>A command-line tool asks to sign in as you</h1>
  <p id="loading">Loading the request…</p>
  <section id="details" hidden>
    <p>Check that the code matches the one in your terminal before you approve.</p>
    <p class="code" id="code"></p>
    <dl>
      <dt>Project</dt><dd id="project"></dd>
      <dt>Device</dt><dd id="device"></dd>
      <dt>From address</dt><dd id="ip"></dd>
      <dt>Program</dt><dd id="agent"></dd>
      <dt>Asked at</dt><dd id="time"></dd>
      <dt>Access</dt><dd id="scopes"></dd>
      <dt>Afterwards</dt><dd id="next"></dd>
    </dl>
    <div class="actions">
      <button class="approve" id="approve" type="button">Approve</button>
      <button id="deny" type="button">Deny</button>
    </div>
  </section>
  <p id="done" hidden><span id="done-text"></span></p>
  <p id="problem" class="error" hidden><span id="problem-text"></span></p>
</main>
<script>${SCRIPT}</script>
</body>
</html>
`;
