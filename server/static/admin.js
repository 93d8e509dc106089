// The admin pages: users, agents and their SIP endpoints, departments, agents' skills,
// capacity and channel costs, canned responses, wrap-up codes and web chat sites. Each
// section is a table of what exists and a form; the server validates everything and its
// errors are shown as they come (naming the field).
import {ApiError, api, el, me, signOut} from "/static/api.js";
import {language, setLanguage, t, translate} from "/static/i18n.js";

const $ = (id) => document.getElementById(id);
const CHANNELS = ["voice", "callback", "webchat", "telegram", "sms", "whatsapp", "email"];

function toast(text) {
  const node = $("toast");
  node.textContent = text;
  node.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { node.hidden = true; }, 5000);
}

function errorText(error) {
  if (!(error instanceof ApiError)) return String(error);
  const details = (error.body?.details || []).map((d) => `${d.field}: ${d.message}`).join("; ");
  return details ? `${error.message} — ${details}` : error.message;
}

async function act(work, done) {
  try {
    const result = await work();
    toast(t("saved"));
    if (done) await done(result);
    return result;
  } catch (error) {
    toast(`${t("error")}: ${errorText(error)}`);
    return null;
  }
}

function field(label, input) {
  return el("label", {class: input.tagName === "TEXTAREA" ? "wide" : ""}, label, input);
}

function input(name, attrs) {
  return el("input", {name, "aria-label": name, ...attrs});
}

function textarea(name, value) {
  const node = el("textarea", {name, "aria-label": name});
  node.value = value ?? "";
  return node;
}

function json(text, fallback) {
  if (!text.trim()) return fallback;
  return JSON.parse(text);
}

function table(headers, rows) {
  return el("table", {},
    el("thead", {}, el("tr", {}, ...headers.map((h) => el("th", {text: h})))),
    el("tbody", {}, ...rows.map((cells) => el("tr", {}, ...cells.map((c) => el("td", {}, c))))));
}

function pre(value) {
  return el("pre", {text: JSON.stringify(value, null, 1)});
}

// --- sections --------------------------------------------------------------------------

const sections = {
  async users(root) {
    const users = await api("GET", "/api/v1/users");
    root.append(table([t("username"), t("displayName"), t("role"), t("active"), t("sipEndpoint"), ""],
      users.map((u) => {
        const active = el("input", {type: "checkbox", "aria-label": t("active")});
        active.checked = u.active;
        active.addEventListener("change", () => act(() => api("PATCH", `/api/v1/users/${u.id}`, {active: active.checked})));
        const role = el("select", {"aria-label": t("role")}, ...["operator", "supervisor", "admin"].map((r) => el("option", {value: r, text: r})));
        role.value = u.role;
        role.addEventListener("change", () => act(() => api("PATCH", `/api/v1/users/${u.id}`, {role: role.value})));
        return [u.username, u.display_name, role, active, u.sip_endpoint || "—", String(u.id)];
      })));
    const form = el("form", {class: "new-user"},
      field(t("username"), input("username", {required: true, pattern: "[A-Za-z0-9_.@-]{1,64}"})),
      field(t("displayName"), input("display_name")),
      field(t("password"), input("password", {type: "password", required: true, minlength: "8"})),
      field(t("role"), el("select", {name: "role"}, ...["operator", "supervisor", "admin"].map((r) => el("option", {value: r, text: r})))),
      el("button", {type: "submit", text: t("create")}));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const data = Object.fromEntries(new FormData(form));
      act(() => api("POST", "/api/v1/users", data), () => show("users"));
    });
    root.append(form);
  },

  async agents(root) {
    const users = await api("GET", "/api/v1/users");
    root.append(table([t("user"), t("sipEndpoint"), ""], users.filter((u) => u.sip_endpoint).map((u) => [
      `${u.display_name || u.username} (${u.id})`, u.sip_endpoint,
      el("button", {type: "button", text: t("remove"), onclick: () => act(() => api("DELETE", `/api/v1/users/${u.id}/agent`), () => show("agents"))}),
    ])));
    const user = el("select", {name: "user"}, ...users.map((u) => el("option", {value: u.id, text: `${u.username} (${u.id})`})));
    const secretShown = el("p", {class: "wide embed"});
    const form = el("form", {class: "agent"},
      field(t("user"), user),
      field(t("sipEndpoint"), input("sip_endpoint", {required: true, pattern: "[A-Za-z0-9_.-]{2,40}"})),
      field(t("sipSecret"), input("sip_secret", {placeholder: "auto"})),
      el("button", {type: "submit", text: t("update")}), secretShown);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const body = {sip_endpoint: form.sip_endpoint.value};
      if (form.sip_secret.value) body.sip_secret = form.sip_secret.value;
      act(() => api("PUT", `/api/v1/users/${user.value}/agent`, body), (r) => {
        // Shown once: the secret to put into the softphone.
        secretShown.textContent = `${r.sip_endpoint}: ${r.sip_secret}`;
      });
    });
    root.append(form);
  },

  async departments(root) {
    const departments = await api("GET", "/api/v1/routing/departments");
    root.append(table(["id", t("name"), t("settings"), ""], departments.map((d) => {
      const edit = el("button", {type: "button", text: t("update"), onclick: () => fill(d)});
      return [String(d.id), d.name, pre(d.settings), edit];
    })));
    const id = input("id", {type: "hidden"});
    const name = input("name", {required: true, maxlength: "100"});
    const supervisors = input("supervisor_ids", {placeholder: "1, 2"});
    const settings = textarea("settings", "{}");
    const form = el("form", {class: "department"}, id,
      field(t("name"), name), field(t("supervisors"), supervisors), field(t("settings"), settings),
      el("button", {type: "submit", text: `${t("create")} / ${t("update")}`}));
    function fill(d) {
      id.value = d.id;
      name.value = d.name;
      settings.value = JSON.stringify(d.settings, null, 1);
      api("GET", `/api/v1/routing/departments/${d.id}`).then((v) => { supervisors.value = (v.supervisor_ids || []).join(", "); });
    }
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      let body;
      try {
        body = {name: name.value, settings: json(settings.value, {}),
          supervisor_ids: supervisors.value.split(",").map((s) => s.trim()).filter(Boolean).map(Number)};
      } catch (error) {
        toast(`${t("error")}: ${error.message}`);
        return;
      }
      const request = id.value
        ? api("PATCH", `/api/v1/routing/departments/${id.value}`, body)
        : api("POST", "/api/v1/routing/departments", body);
      act(() => request, () => show("departments"));
    });
    root.append(form);
  },

  async profiles(root) {
    const [users, departments] = await Promise.all([api("GET", "/api/v1/users"), api("GET", "/api/v1/routing/departments")]);
    const agents = users.filter((u) => u.sip_endpoint);
    const rows = [];
    for (const agent of agents) {
      const data = await api("GET", `/api/v1/routing/agents/${agent.id}`).catch(() => null);
      if (data) rows.push([`${agent.username} (${agent.id})`, data.status, String(data.profile.capacity),
        pre(data.profile.channel_costs), pre(data.profile.skills), data.profile.departments.join(", ")]);
    }
    root.append(table([t("agent"), t("status"), t("capacity"), t("channelCosts"), t("skills"), t("departmentIds")], rows));
    const agent = el("select", {name: "agent"}, ...agents.map((a) => el("option", {value: a.id, text: a.username})));
    const capacity = input("capacity", {type: "number", min: "0", max: "10000", value: "100"});
    const wrapup = input("wrapup_s", {type: "number", min: "0", max: "3600", placeholder: "—"});
    const costs = textarea("channel_costs", "{}");
    costs.placeholder = JSON.stringify(Object.fromEntries(CHANNELS.map((c) => [c, 20])));
    const skills = textarea("skills", "{}");
    const boxes = departments.map((d) => el("label", {}, el("input", {type: "checkbox", name: "department", value: d.id}), ` ${d.name}`));
    agent.addEventListener("change", () => load());
    async function load() {
      // Busy until the chosen agent's profile is in the form.
      form.setAttribute("aria-busy", "true");
      const data = await api("GET", `/api/v1/routing/agents/${agent.value}`).catch(() => null);
      form.setAttribute("aria-busy", "false");
      if (!data) return;
      capacity.value = data.profile.capacity;
      wrapup.value = data.profile.wrapup_s ?? "";
      costs.value = JSON.stringify(data.profile.channel_costs);
      skills.value = JSON.stringify(data.profile.skills);
      for (const box of boxes) box.firstChild.checked = data.profile.departments.includes(Number(box.firstChild.value));
    }
    const form = el("form", {class: "profile"}, field(t("agent"), agent), field(t("capacity"), capacity),
      field(t("wrapupS"), wrapup), field(t("channelCosts"), costs), field(t("skills"), skills),
      el("div", {class: "wide"}, t("departments"), ...boxes), el("button", {type: "submit", text: t("update")}));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      let body;
      try {
        body = {capacity: Number(capacity.value), channel_costs: json(costs.value, {}), skills: json(skills.value, {}),
          wrapup_s: wrapup.value === "" ? null : Number(wrapup.value),
          departments: boxes.filter((b) => b.firstChild.checked).map((b) => Number(b.firstChild.value))};
      } catch (error) {
        toast(`${t("error")}: ${error.message}`);
        return;
      }
      act(() => api("PUT", `/api/v1/routing/agents/${agent.value}/profile`, body), () => show("profiles"));
    });
    root.append(form);
    if (agents.length) await load();
  },

  async canned(root) {
    const [rows, departments] = await Promise.all([api("GET", "/api/v1/canned-responses"), api("GET", "/api/v1/routing/departments")]);
    const names = new Map(departments.map((d) => [d.id, d.name]));
    root.append(table([t("title"), t("body"), t("department"), ""], rows.map((c) => [c.title, c.body,
      c.department_id ? names.get(c.department_id) || String(c.department_id) : "—",
      el("button", {type: "button", text: t("remove"), onclick: () => act(() => api("DELETE", `/api/v1/canned-responses/${c.id}`), () => show("canned"))})])));
    const department = el("select", {name: "department_id"}, el("option", {value: "", text: "—"}),
      ...departments.map((d) => el("option", {value: d.id, text: d.name})));
    const title = input("title", {required: true, maxlength: "100"});
    const body = textarea("body", "");
    const form = el("form", {class: "canned"}, field(t("title"), title), field(t("department"), department),
      field(t("body"), body), el("button", {type: "submit", text: t("create")}));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      act(() => api("POST", "/api/v1/canned-responses",
        {title: title.value, body: body.value, department_id: department.value ? Number(department.value) : null}), () => show("canned"));
    });
    root.append(form);
  },

  async dispositions(root) {
    const rows = await api("GET", "/api/v1/dispositions");
    root.append(table([t("code"), t("label"), t("active"), t("position")],
      rows.map((d) => [d.code, d.label, d.active ? "✓" : "—", String(d.position)])));
    const code = input("code", {required: true, pattern: "[a-z0-9_-]{1,40}"});
    const label = input("label", {required: true, maxlength: "100"});
    const position = input("position", {type: "number", min: "0", value: "10"});
    const active = el("input", {type: "checkbox", name: "active", checked: true});
    const form = el("form", {class: "disposition"}, field(t("code"), code), field(t("label"), label),
      field(t("position"), position), field(t("active"), active), el("button", {type: "submit", text: `${t("create")} / ${t("update")}`}));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      act(() => api("PUT", `/api/v1/dispositions/${encodeURIComponent(code.value)}`,
        {label: label.value, active: active.checked, position: Number(position.value)}), () => show("dispositions"));
    });
    root.append(form);
  },

  async sites(root) {
    const [sites, departments] = await Promise.all([api("GET", "/api/v1/webchat/sites"), api("GET", "/api/v1/routing/departments")]);
    const base = location.origin;
    root.append(table([t("name"), t("department"), t("allowedOrigins"), t("embed"), ""], sites.map((s) => [
      s.name, String(s.department_id), s.allowed_origins.join(" "),
      el("code", {class: "embed", text: `<script src="${base}/webchat/widget.js" data-site="${s.key}" async></script>`}),
      el("button", {type: "button", text: t("remove"), onclick: () => act(() => api("DELETE", `/api/v1/webchat/sites/${s.key}`), () => show("sites"))}),
    ])));
    const name = input("name", {required: true, maxlength: "100"});
    const department = el("select", {name: "department_id"}, ...departments.map((d) => el("option", {value: d.id, text: d.name})));
    const origins = input("allowed_origins", {placeholder: "https://shop.example"});
    const schedule = textarea("schedule", "");
    schedule.placeholder = '{"timezone": "Europe/Moscow", "weekly": {"mon": ["09:00-18:00"]}}';
    const form = el("form", {class: "site"}, field(t("name"), name), field(t("department"), department),
      field(t("allowedOrigins"), origins), field(t("schedule"), schedule), el("button", {type: "submit", text: t("create")}));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      let body;
      try {
        body = {name: name.value, department_id: Number(department.value),
          allowed_origins: origins.value.split(/[\s,]+/).filter(Boolean), schedule: json(schedule.value, null)};
      } catch (error) {
        toast(`${t("error")}: ${error.message}`);
        return;
      }
      act(() => api("POST", "/api/v1/webchat/sites", body), () => show("sites"));
    });
    root.append(form);
  },
};

async function show(name) {
  for (const tab of document.querySelectorAll("[data-tab]")) tab.setAttribute("aria-selected", String(tab.dataset.tab === name));
  const root = $("section");
  root.textContent = "";
  root.dataset.section = name;
  history.replaceState(null, "", `#${name}`);
  try {
    await sections[name](root);
  } catch (error) {
    root.append(el("p", {class: "error", text: errorText(error)}));
  }
}

async function main() {
  translate();
  $("language").value = language();
  const user = await me();
  $("who").textContent = user.display_name || user.username;
  $("logout").addEventListener("click", signOut);
  $("language").addEventListener("change", () => {
    setLanguage($("language").value);
    translate();
    show($("section").dataset.section || "users");
  });
  for (const tab of document.querySelectorAll("[data-tab]")) tab.addEventListener("click", () => show(tab.dataset.tab));
  const start = location.hash.slice(1);
  await show(sections[start] ? start : "users");
}

main();
