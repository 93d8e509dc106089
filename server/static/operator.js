// The operator page: status, offers with countdowns, current interactions, chats, call
// controls, the customer card (screen-pop) and wrap-up. Live through the stream; every
// piece of data is shown as text (el() and textContent), never as HTML.
import {ApiError, api, el, me, signOut} from "/static/api.js";
import {language, setLanguage, t, translate} from "/static/i18n.js";
import {Stream} from "/static/stream.js";

const S = {
  user: null,
  agent: null,
  offers: new Map(), // offer_id -> {offer_id, interaction_id, channel, expires_at, card, ringing}
  items: new Map(), // interaction_id -> {interaction_id, channel, state, card, conversation, wrapupUntil, wrapped}
  selected: null, // {kind: "offer"|"item", id}
  dispositions: [],
  canned: [],
  targets: {agents: [], departments: []},
  chats: new Map(), // conversation_id -> {id, state, messages: Map, typing, interaction_id}
};
const $ = (id) => document.getElementById(id);
let stream = null;
let typingSentAt = 0;
// What the work and customer panes show now: they are drawn again only when it changes,
// so a stream item never takes the focus or a half-typed answer away.
let workKey = "";
let customerKey = "";

// --- helpers ----------------------------------------------------------------------------

function toast(text) {
  const node = $("toast");
  node.textContent = text;
  node.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { node.hidden = true; }, 4000);
}

async function act(work) {
  try {
    return await work();
  } catch (error) {
    toast(`${t("error")}: ${error instanceof ApiError ? error.message : String(error)}`);
    return null;
  }
}

function secondsLeft(iso) {
  return Math.max(0, Math.round((Date.parse(iso) - stream.now()) / 1000));
}

function timeText(iso) {
  return new Date(iso).toLocaleString(language() === "ru" ? "ru-RU" : "en-GB");
}

function customerName(card) {
  if (card?.customer?.name || card?.number) return card.customer?.name || card.number;
  return card?.channel === "webchat" ? t("visitor") : t("unknownCustomer");
}

// --- loading ------------------------------------------------------------------------------

async function loadState() {
  const state = await api("GET", "/api/v1/workspace/state");
  S.agent = state.agent;
  S.dispositions = state.dispositions;
  S.canned = state.canned;
  S.offers.clear();
  for (const offer of state.offers) S.offers.set(offer.offer_id, {...offer, ringing: false});
  const previous = S.items;
  S.items = new Map();
  for (const card of state.holding) {
    const old = previous.get(card.interaction_id);
    S.items.set(card.interaction_id, {
      interaction_id: card.interaction_id, channel: card.channel, state: card.state, card,
      wrapupUntil: old?.wrapupUntil ?? null, wrapped: false,
    });
    if (card.conversation_id) await loadChat(card.conversation_id, card.interaction_id);
  }
  for (const [id, item] of previous) {
    // Ended while away but not wrapped up yet: keep the form.
    if (!S.items.has(id) && !item.wrapped && item.state !== "accepted") S.items.set(id, item);
  }
  S.targets = await api("GET", "/api/v1/workspace/transfer-targets");
  renderAll();
}

async function loadChat(conversationId, interactionId) {
  const data = await api("GET", `/api/v1/workspace/chats/${conversationId}`);
  const chat = S.chats.get(conversationId) || {id: conversationId, messages: new Map(), typing: false};
  chat.state = data.state;
  chat.interaction_id = interactionId;
  for (const message of data.messages) chat.messages.set(message.id, message);
  S.chats.set(conversationId, chat);
  return chat;
}

async function cardOf(interactionId) {
  return act(() => api("GET", `/api/v1/workspace/interactions/${interactionId}`));
}

// --- stream items ---------------------------------------------------------------------------

async function onItem(item) {
  const data = item.data;
  switch (item.type) {
    case "status":
      S.agent = {...(S.agent || {}), status: data.status, pause_reason: data.reason};
      renderStatus();
      break;
    case "offer": {
      const offer = {offer_id: data.offer_id, interaction_id: data.interaction_id, channel: data.channel,
        expires_at: data.expires_at, card: null, ringing: false};
      S.offers.set(offer.offer_id, offer);
      if (!S.selected) S.selected = {kind: "offer", id: offer.offer_id};
      renderLists();
      offer.card = await cardOf(data.interaction_id);
      renderAll();
      break;
    }
    case "screen_pop": {
      const offer = S.offers.get(data.offer_id);
      if (offer) {
        offer.card = data;
        offer.ringing = true;
      }
      S.selected = {kind: "offer", id: data.offer_id};
      if (offer) {
        renderCustomer();
      } else {
        customerKey = "";
        showCustomer(data, {ringing: true});
      }
      renderLists();
      renderWork();
      break;
    }
    case "offer_accepted": {
      const offer = S.offers.get(data.offer_id);
      S.offers.delete(data.offer_id);
      if (S.items.has(data.interaction_id)) {
        // Accepted on this page a moment ago.
        renderLists();
        break;
      }
      const card = offer?.card?.customer ? offer.card : await cardOf(data.interaction_id);
      const entry = {interaction_id: data.interaction_id, channel: data.channel, state: "accepted",
        card, wrapupUntil: null, wrapped: false};
      S.items.set(data.interaction_id, entry);
      if (card?.conversation_id) await loadChat(card.conversation_id, data.interaction_id);
      S.selected = {kind: "item", id: data.interaction_id};
      renderAll();
      break;
    }
    case "offer_closed":
      S.offers.delete(data.offer_id);
      if (S.selected?.kind === "offer" && S.selected.id === data.offer_id) S.selected = null;
      renderAll();
      break;
    case "interaction": {
      const entry = S.items.get(data.interaction_id);
      if (!entry) break;
      entry.state = data.state;
      if (data.state === "wrap_up") entry.wrapupUntil = data.until;
      if (data.state === "requeued" || (data.state === "completed" && entry.wrapped)) {
        S.items.delete(data.interaction_id);
      }
      renderAll();
      break;
    }
    case "chat_message": {
      const chat = S.chats.get(data.conversation_id);
      if (!chat) break;
      chat.messages.set(data.id, data);
      if (data.direction === "in") chat.typing = false;
      renderChatLog(chat);
      break;
    }
    case "chat_closed": {
      const chat = S.chats.get(data.conversation_id);
      if (chat) chat.state = "closed";
      const entry = S.items.get(data.interaction_id);
      if (entry) entry.state = "closed";
      renderAll();
      break;
    }
    case "chat_transferred":
      S.items.delete(data.interaction_id);
      if (S.selected?.kind === "item" && S.selected.id === data.interaction_id) S.selected = null;
      renderAll();
      break;
    default:
      break;
  }
}

function onEphemeral(message) {
  if (message.type !== "typing") return;
  const chat = S.chats.get(message.data.conversation_id);
  if (!chat) return;
  chat.typing = message.data.on;
  const node = document.querySelector(`[data-typing="${chat.id}"]`);
  if (node) node.textContent = chat.typing ? t("typing") : "";
}

// --- rendering -----------------------------------------------------------------------------

function renderAll() {
  renderStatus();
  renderLists();
  renderWork();
  renderCustomer();
}

function renderStatus() {
  const status = S.agent?.status || "offline";
  $("status").value = status;
  $("status").disabled = !S.agent;
  $("pause-reason").hidden = status !== "paused";
}

function channelBadge(channel, extra) {
  return el("span", {class: `badge ${channel} ${extra || ""}`, text: t(`channel_${channel}`)});
}

function renderLists() {
  const offers = $("offers");
  offers.textContent = "";
  if (!S.offers.size) offers.append(el("li", {class: "empty", text: t("noOffers")}));
  for (const offer of S.offers.values()) {
    const voice = offer.channel === "voice" || offer.channel === "callback";
    const selected = S.selected?.kind === "offer" && S.selected.id === offer.offer_id;
    offers.append(el("li", {class: selected ? "selected offer" : "offer", "data-offer": offer.offer_id,
      onclick: () => select("offer", offer.offer_id)},
      el("div", {class: "row"}, channelBadge(offer.channel, offer.ringing ? "ringing" : ""),
        el("span", {class: "countdown", "data-expires": offer.expires_at, text: t("expiresIn", {s: secondsLeft(offer.expires_at)})})),
      el("div", {class: "who", text: offer.card ? customerName(offer.card) : "…"}),
      voice
        ? el("div", {class: "muted", text: t("ringing")})
        : el("div", {class: "buttons"},
          el("button", {type: "button", class: "accept", text: t("accept"), onclick: (e) => { e.stopPropagation(); accept(offer.offer_id); }}),
          el("button", {type: "button", class: "decline", text: t("decline"), onclick: (e) => { e.stopPropagation(); decline(offer.offer_id); }}))));
  }
  const current = $("current");
  current.textContent = "";
  if (!S.items.size) current.append(el("li", {class: "empty", text: t("noCurrent")}));
  let n = 1;
  for (const item of S.items.values()) {
    const selected = S.selected?.kind === "item" && S.selected.id === item.interaction_id;
    current.append(el("li", {class: selected ? "selected" : "", "data-interaction": item.interaction_id,
      onclick: () => select("item", item.interaction_id)},
      el("div", {class: "row"}, channelBadge(item.channel), el("span", {class: "muted", text: `Alt+${n}`})),
      el("div", {class: "who", text: customerName(item.card)}),
      el("div", {class: "muted", text: t(`state_${item.state}`)})));
    n += 1;
  }
}

function select(kind, id) {
  S.selected = {kind, id};
  renderLists();
  renderWork();
  renderCustomer();
}

function selectedEntry() {
  if (!S.selected) return null;
  return S.selected.kind === "offer" ? S.offers.get(S.selected.id) : S.items.get(S.selected.id);
}

function renderCustomer() {
  const entry = selectedEntry();
  const card = entry?.card;
  const key = JSON.stringify([S.selected, Boolean(entry?.ringing), card?.customer?.id, card?.customer?.name,
    card?.customer?.tags, card?.timeline?.length, card?.waited_s, language()]);
  if (key === customerKey) return;
  customerKey = key;
  showCustomer(card, {ringing: Boolean(entry?.ringing)});
}

function showCustomer(card, {ringing}) {
  const pane = $("customer");
  pane.textContent = "";
  if (!card || !card.customer) {
    pane.append(el("p", {class: "muted", text: t("noCustomer")}));
    return;
  }
  if (ringing) {
    pane.append(el("div", {class: "card-banner", text: card.channel === "callback" ? t("callbackCall") : t("incomingCall")}));
  }
  pane.append(el("h2", {text: t("customer")}), el("div", {class: "name", text: customerName(card)}));
  const facts = el("dl");
  const fact = (label, value, cls) => {
    if (value === null || value === undefined || value === "") return;
    facts.append(el("dt", {text: label}), el("dd", {class: cls, text: value}));
  };
  fact(t("number"), card.number, "number");
  if (card.ivr_path?.length) fact(t("ivrPath"), card.ivr_path.join(" → "), "ivr-path");
  if (card.waited_s !== undefined && card.waited_s !== null) fact(t("waited"), t("seconds", {s: card.waited_s}), "waited");
  if (card.callback) {
    fact(t("callbackPage"), card.callback.page, "callback-page");
    fact(t("callbackComment"), card.callback.comment, "callback-comment");
  }
  pane.append(facts);
  pane.append(el("h2", {text: t("tags")}), renderTags(card));
  pane.append(el("h2", {text: t("lastContacts")}));
  const timeline = el("ul", {class: "timeline"});
  for (const entry of card.customer.timeline ?? card.timeline ?? []) {
    // A call's recording plays from the recordings API, which decides who may hear it.
    const audio = Number.isInteger(entry.recording_id) &&
      el("audio", {controls: true, preload: "none", "aria-label": t("recording"),
        src: `/api/v1/recordings/${entry.recording_id}/audio`});
    timeline.append(el("li", {}, el("time", {text: timeText(entry.at)}), el("span", {text: entry.summary}), audio));
  }
  if (!timeline.children.length) timeline.append(el("li", {class: "muted", text: t("noContacts")}));
  pane.append(timeline);
}

function renderTags(card) {
  const box = el("div", {class: "tags"});
  const tags = card.customer.tags || [];
  const save = async (next) => {
    const result = await act(() => api("PUT", `/api/v1/customers/${card.customer.id}/tags`, {tags: next}));
    if (result) {
      card.customer.tags = result.tags;
      renderCustomer();
    }
  };
  for (const tag of tags) {
    box.append(el("span", {class: "tag"}, tag,
      el("button", {type: "button", "aria-label": `− ${tag}`, text: "×", onclick: () => save(tags.filter((x) => x !== tag))})));
  }
  const input = el("input", {placeholder: t("addTag"), maxlength: "40", "aria-label": t("addTag")});
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && input.value.trim()) save([...tags, input.value.trim()]);
  });
  box.append(input);
  return box;
}

function renderWork() {
  const entry = selectedEntry();
  const chat = entry?.card?.conversation_id ? S.chats.get(entry.card.conversation_id) : null;
  const key = JSON.stringify([S.selected, entry?.state, Boolean(entry?.card), chat?.state, entry?.wrapupUntil, language()]);
  if (key === workKey) return;
  workKey = key;
  const pane = $("work");
  pane.textContent = "";
  if (!entry) return;
  if (S.selected.kind === "offer") {
    pane.append(el("h2", {text: `${t(`channel_${entry.channel}`)} — ${entry.card ? customerName(entry.card) : ""}`}));
    const chatId = entry.card?.conversation_id;
    if (chatId) {
      // A preview of what the customer wrote, before accepting.
      api("GET", `/api/v1/workspace/chats/${chatId}`).then((data) => {
        const log = el("div", {class: "chat-log preview"});
        for (const m of data.messages) log.append(messageNode(m, customerName(entry.card)));
        if (S.selected?.kind === "offer" && S.selected.id === entry.offer_id) pane.append(log);
      }).catch(() => null);
    }
    return;
  }
  pane.append(el("h2", {text: `${t(`channel_${entry.channel}`)} — ${customerName(entry.card)}`}));
  if (entry.channel === "voice" || entry.channel === "callback") pane.append(callControls(entry));
  if (chat) pane.append(chatPanel(entry, chat));
  if (entry.state === "wrap_up" || entry.state === "closed" || entry.state === "completed") pane.append(wrapupForm(entry));
}

function callControls(entry) {
  const number = el("input", {name: "transfer-number", placeholder: t("numberPlaceholder"), "aria-label": t("toNumber")});
  const agent = el("select", {name: "transfer-agent", "aria-label": t("toAgent")},
    el("option", {value: "", text: "—"}),
    ...S.targets.agents.filter((a) => a.sip_endpoint).map((a) => el("option", {value: a.id, text: `${a.name} (${a.sip_endpoint})`})));
  const transfer = () => {
    const body = agent.value ? {agent_id: Number(agent.value)} : {number: number.value.replace(/[\s()-]/g, "")};
    act(() => api("POST", "/api/v1/workspace/calls/transfer", body));
  };
  return el("div", {class: "actions call-controls"},
    el("button", {type: "button", class: "hangup", text: t("hangUp"), onclick: () => act(() => api("POST", "/api/v1/workspace/calls/hangup"))}),
    el("span", {text: t("transferTo")}), agent, number,
    el("button", {type: "button", class: "transfer", text: t("transfer"), onclick: transfer}),
    entry.state === "wrap_up" && entry.wrapupUntil
      ? el("span", {class: "countdown", "data-until": entry.wrapupUntil, text: t("wrapUpUntil", {s: secondsLeft(entry.wrapupUntil)})})
      : null);
}

function messageNode(message, customer) {
  const who = message.direction === "in" ? customer : message.direction === "out" ? (message.author || t("you")) : t("system");
  const node = el("div", {class: `msg ${message.direction}`, "data-message": message.id}, el("small", {text: who}));
  if (message.text) node.append(document.createTextNode(message.text));
  if (message.attachment) {
    node.append(el("br"), el("a", {href: `/api/v1/workspace/chats/${message.conversation_id}/attachments/${message.attachment.id}`,
      text: `${t("attach")}: ${message.attachment.name}`}));
  }
  return node;
}

function renderChatLog(chat) {
  const log = document.querySelector(`[data-chat-log="${chat.id}"]`);
  if (!log) return;
  const customer = customerName(S.items.get(chat.interaction_id)?.card);
  for (const message of [...chat.messages.values()].sort((a, b) => a.id - b.id)) {
    if (!log.querySelector(`[data-message="${message.id}"]`)) log.append(messageNode(message, customer));
  }
  log.scrollTop = log.scrollHeight;
  const typing = document.querySelector(`[data-typing="${chat.id}"]`);
  if (typing) typing.textContent = chat.typing ? t("typing") : "";
}

function chatPanel(entry, chat) {
  const log = el("div", {class: "chat-log", "data-chat-log": chat.id, role: "log"});
  const typing = el("div", {class: "typing", "data-typing": chat.id});
  const box = el("div", {class: "chat"}, log, typing);
  if (chat.state === "open" && entry.state === "accepted") box.append(composer(chat), chatActions(chat));
  else box.append(el("p", {class: "muted", text: t("chatClosed")}));
  setTimeout(() => renderChatLog(chat));
  return box;
}

function composer(chat) {
  const text = el("textarea", {name: "message", "aria-label": t("message"), placeholder: t("message"), maxlength: "4000"});
  text.value = chat.draft || "";
  text.addEventListener("input", () => { chat.draft = text.value; });
  const file = el("input", {type: "file", name: "file", "aria-label": t("attach")});
  const canned = el("select", {name: "canned", "aria-label": t("canned")},
    el("option", {value: "", text: t("canned")}),
    ...S.canned.map((c) => el("option", {value: c.id, text: c.title})));
  canned.addEventListener("change", () => {
    const chosen = S.canned.find((c) => String(c.id) === canned.value);
    if (chosen) text.value = text.value ? `${text.value}\n${chosen.body}` : chosen.body;
    canned.value = "";
    text.focus();
  });
  const send = async () => {
    if (file.files.length) {
      const form = new FormData();
      form.append("text", text.value);
      form.append("file", file.files[0]);
      const sent = await act(() => api("POST", `/api/v1/workspace/chats/${chat.id}/attachments`, form));
      if (sent) { chat.messages.set(sent.id, sent); file.value = ""; text.value = ""; chat.draft = ""; renderChatLog(chat); }
      return;
    }
    const body = text.value.trim();
    if (!body) return;
    chat.draft = "";
    const ref = `op${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
    const sent = await act(() => api("POST", `/api/v1/workspace/chats/${chat.id}/messages`, {text: body, ref}));
    if (sent) {
      text.value = "";
      chat.messages.set(sent.id, sent);
      renderChatLog(chat);
    }
  };
  text.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      send();
    }
  });
  text.addEventListener("input", () => {
    if (Date.now() - typingSentAt > 3000) {
      typingSentAt = Date.now();
      api("POST", `/api/v1/workspace/chats/${chat.id}/typing`, {on: true}).catch(() => null);
    }
  });
  setTimeout(() => text.focus());
  return el("div", {class: "composer"}, text,
    el("div", {class: "actions"}, canned, file, el("button", {type: "button", class: "send", text: t("send"), onclick: send})));
}

function chatActions(chat) {
  const target = el("select", {name: "chat-transfer", "aria-label": t("transferTo")},
    el("option", {value: "", text: t("transferTo")}),
    ...S.targets.agents.map((a) => el("option", {value: `agent:${a.id}`, text: `${t("toAgent")}: ${a.name}`})),
    ...S.targets.departments.map((d) => el("option", {value: `department:${d.id}`, text: `${t("toDepartment")}: ${d.name}`})));
  const reason = el("input", {name: "block-reason", placeholder: t("blockReason"), "aria-label": t("blockReason"), maxlength: "200"});
  return el("div", {class: "actions chat-actions"},
    target,
    el("button", {type: "button", class: "transfer", text: t("transfer"), onclick: () => {
      if (!target.value) return;
      const [kind, id] = target.value.split(":");
      act(() => api("POST", `/api/v1/workspace/chats/${chat.id}/transfer`, {[`${kind}_id`]: Number(id)}));
    }}),
    el("button", {type: "button", class: "close-chat", text: t("close"), onclick: () => act(() => api("POST", `/api/v1/workspace/chats/${chat.id}/close`))}),
    reason,
    el("button", {type: "button", class: "block", text: t("block"), onclick: () => act(() => api("POST", `/api/v1/workspace/chats/${chat.id}/block`, {reason: reason.value}))}));
}

function wrapupForm(entry) {
  const disposition = el("select", {name: "disposition", "aria-label": t("disposition")},
    ...S.dispositions.map((d) => el("option", {value: d.code, text: d.label})));
  const notes = el("textarea", {name: "notes", "aria-label": t("notes"), placeholder: t("notes"), maxlength: "4000"});
  const form = el("form", {class: "wrapup"},
    el("h2", {text: t("wrapUp")}),
    entry.wrapupUntil && entry.state === "wrap_up"
      ? el("p", {class: "countdown", "data-until": entry.wrapupUntil, text: t("wrapUpUntil", {s: secondsLeft(entry.wrapupUntil)})})
      : null,
    el("label", {}, t("disposition"), disposition), el("label", {}, t("notes"), notes),
    el("button", {type: "submit", text: t("save")}));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const done = await act(() => api("POST", `/api/v1/workspace/interactions/${entry.interaction_id}/wrapup`,
      {disposition: disposition.value, notes: notes.value}));
    if (!done) return;
    entry.wrapped = true;
    toast(t("saved"));
    if (done.state === "completed") S.items.delete(entry.interaction_id);
    if (S.selected?.id === entry.interaction_id) S.selected = null;
    renderAll();
  });
  return form;
}

// --- actions -----------------------------------------------------------------------------

async function accept(offerId) {
  const interaction = await act(() => api("POST", `/api/v1/workspace/offers/${offerId}/accept`));
  if (!interaction) return;
  // The stream's offer_accepted brings the rest; this makes the click feel instant.
  const offer = S.offers.get(offerId);
  S.offers.delete(offerId);
  if (!S.items.has(interaction.id)) {
    const card = offer?.card || await cardOf(interaction.id);
    S.items.set(interaction.id, {interaction_id: interaction.id, channel: interaction.channel, state: "accepted",
      card, wrapupUntil: null, wrapped: false});
    if (card?.conversation_id) await loadChat(card.conversation_id, interaction.id);
  }
  S.selected = {kind: "item", id: interaction.id};
  renderAll();
}

async function decline(offerId) {
  if (await act(() => api("POST", `/api/v1/workspace/offers/${offerId}/decline`))) {
    S.offers.delete(offerId);
    renderAll();
  }
}

async function changeStatus() {
  const status = $("status").value;
  $("pause-reason").hidden = status !== "paused";
  const body = status === "paused" ? {status, reason: $("pause-reason").value} : {status};
  const agent = await act(() => api("PUT", "/api/v1/workspace/status", body));
  if (agent) S.agent = agent;
  renderStatus();
}

function tick() {
  for (const node of document.querySelectorAll("[data-expires]")) {
    node.textContent = t("expiresIn", {s: secondsLeft(node.dataset.expires)});
  }
  for (const node of document.querySelectorAll("[data-until]")) {
    node.textContent = t("wrapUpUntil", {s: secondsLeft(node.dataset.until)});
  }
}

function onKey(event) {
  if (!event.altKey) return;
  const key = event.key.toLowerCase();
  const firstOffer = [...S.offers.values()].find((o) => o.channel !== "voice" && o.channel !== "callback");
  if (key === "a" && firstOffer) { event.preventDefault(); accept(firstOffer.offer_id); }
  if (key === "d" && firstOffer) { event.preventDefault(); decline(firstOffer.offer_id); }
  if (/^[1-9]$/.test(key)) {
    const item = [...S.items.values()][Number(key) - 1];
    if (item) { event.preventDefault(); select("item", item.interaction_id); }
  }
}

async function main() {
  translate();
  $("language").value = language();
  S.user = await me();
  $("who").textContent = `${S.user.display_name || S.user.username} (${S.user.role})${S.user.sip_endpoint ? ` · SIP ${S.user.sip_endpoint}` : ""}`;
  $("admin-link").hidden = S.user.role !== "admin";
  $("dial").hidden = !S.user.sip_endpoint;
  $("logout").addEventListener("click", signOut);
  $("status").addEventListener("change", changeStatus);
  $("pause-reason").addEventListener("change", changeStatus);
  $("language").addEventListener("change", () => { setLanguage($("language").value); translate(); renderAll(); });
  $("dial").addEventListener("submit", (event) => {
    event.preventDefault();
    const number = $("dial-number").value.replace(/[\s()-]/g, "");
    if (number) act(() => api("POST", "/api/v1/workspace/calls/dial", {number}));
  });
  document.addEventListener("keydown", onKey);
  setInterval(tick, 1000);
  stream = new Stream({
    onItem: (item) => { onItem(item).catch((error) => toast(String(error))); },
    onEphemeral,
    onReset: () => loadState(),
    onStatus: (up) => {
      $("connection").textContent = up ? t("connected") : t("reconnecting");
      $("connection").classList.toggle("down", !up);
    },
  });
  stream.start();
}

main();
