/* Switchboard callback widget: one <script> tag, no framework.
 *
 *   <script src="https://switchboard.example/callback/widget.js" async
 *           data-site="acme-web" data-color="#0a7" data-title="Call me back"
 *           data-button="Call me" data-thanks="Thank you!"></script>
 *
 * Everything lives in a shadow root, so the host page's styles and ours never meet.
 * The form posts to the server the script came from; the confirmation shows the
 * estimated wait (or, after hours, when we will call) and follows the request's status.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) return;
  var base = new URL(script.src).origin;
  var data = script.dataset;
  var site = data.site || "";
  var color = /^#[0-9a-fA-F]{3,8}$/.test(data.color || "") ? data.color : "#1a73e8";
  var texts = {
    title: data.title || "We will call you back",
    phone: data.phonePlaceholder || "+49 30 1234567",
    name: data.namePlaceholder || "Your name (optional)",
    when: data.whenLabel || "Preferred time (optional)",
    button: data.button || "Call me back",
    thanks: data.thanks || "Thank you! We will call you",
    soon: data.soon || "within about",
    at: data.at || "at",
    calling: data.calling || "We are calling you now.",
    done: data.done || "Thank you for talking to us.",
    failed: data.failed || "We could not reach you.",
    error: data.error || "Something went wrong; please try again."
  };

  var host = document.createElement("div");
  host.setAttribute("data-switchboard-callback", site);
  var root = host.attachShadow ? host.attachShadow({ mode: "open" }) : host;
  root.innerHTML =
    "<style>" +
    ":host{all:initial}" +
    ".box{position:fixed;right:16px;bottom:16px;z-index:2147483000;font:14px/1.4 sans-serif;" +
    "background:#fff;color:#222;border:1px solid #ddd;border-radius:8px;padding:12px;width:260px;" +
    "box-shadow:0 2px 12px rgba(0,0,0,.15)}" +
    "h2{font-size:16px;margin:0 0 8px}" +
    "input{box-sizing:border-box;width:100%;margin:0 0 6px;padding:6px;border:1px solid #bbb;border-radius:4px}" +
    "label{font-size:12px;color:#555}" +
    "button{width:100%;padding:8px;border:0;border-radius:4px;color:#fff;cursor:pointer;background:" + color + "}" +
    "button[disabled]{opacity:.6}" +
    ".hp{position:absolute;left:-10000px;width:1px;height:1px;overflow:hidden}" +
    ".err{color:#b00020;margin:6px 0 0}" +
    "</style>" +
    '<div class="box"><h2 part="title"></h2>' +
    '<form novalidate>' +
    '<input name="phone" type="tel" autocomplete="tel" required>' +
    '<input name="name" type="text" autocomplete="name" maxlength="100">' +
    '<label></label><input name="when" type="datetime-local">' +
    '<div class="hp" aria-hidden="true"><input name="website" tabindex="-1" autocomplete="off"></div>' +
    '<button type="submit"></button><p class="err" role="alert" hidden></p>' +
    '</form><p class="done" role="status" hidden></p></div>';

  var form = root.querySelector("form");
  var title = root.querySelector("h2");
  var error = root.querySelector(".err");
  var done = root.querySelector(".done");
  var button = root.querySelector("button");
  title.textContent = texts.title;
  form.phone.placeholder = texts.phone;
  form.name.placeholder = texts.name;
  root.querySelector("label").textContent = texts.when;
  button.textContent = texts.button;

  function api(path) {
    return base + "/api/v1/callbacks" + path + "?site=" + encodeURIComponent(site);
  }

  function minutes(seconds) {
    return Math.max(1, Math.round(seconds / 60)) + " min";
  }

  function show(request) {
    var text;
    if (request.status === "scheduled" && request.scheduled_for) {
      text = texts.thanks + " " + texts.at + " " + new Date(request.scheduled_for).toLocaleString() + ".";
    } else if (request.status === "calling") {
      text = texts.calling;
    } else if (request.status === "completed") {
      text = texts.done;
    } else if (request.status === "failed" || request.status === "cancelled") {
      text = texts.failed;
    } else if (request.estimated_wait_s !== null && request.estimated_wait_s !== undefined) {
      text = texts.thanks + " " + texts.soon + " " + minutes(request.estimated_wait_s) + ".";
    } else {
      text = texts.thanks + ".";
    }
    form.hidden = true;
    done.hidden = false;
    done.textContent = text;
    done.setAttribute("data-status", request.status);
    if (["completed", "failed", "cancelled"].indexOf(request.status) < 0) {
      setTimeout(function () { follow(request.id); }, 5000);
    }
  }

  function follow(id) {
    fetch(api("/" + encodeURIComponent(id)), { mode: "cors" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (request) { if (request) show(request); })
      .catch(function () { setTimeout(function () { follow(id); }, 15000); });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    error.hidden = true;
    button.disabled = true;
    var body = {
      phone: form.phone.value,
      name: form.name.value,
      page: String(location.href).slice(0, 500),
      website: form.website.value
    };
    if (form.when.value) body.preferred_at = new Date(form.when.value).toISOString();
    fetch(api(""), {
      method: "POST",
      mode: "cors",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body)
    })
      .then(function (r) {
        return r.json().then(function (json) { return { ok: r.ok, json: json }; });
      })
      .then(function (answer) {
        button.disabled = false;
        if (answer.ok) return show(answer.json);
        error.textContent = answer.json.error || texts.error;
        error.hidden = false;
      })
      .catch(function () {
        button.disabled = false;
        error.textContent = texts.error;
        error.hidden = false;
      });
  });

  function mount() { document.body.appendChild(host); }
  if (document.body) mount(); else document.addEventListener("DOMContentLoaded", mount);
})();
