/* Switchboard web chat widget.
 *
 * Embed with one tag:
 *   <script src="https://<switchboard>/webchat/widget.js" data-site="<site key>" async></script>
 * Optional: data-lang="ru" or "en" (default: the browser's language), data-title="…".
 *
 * Everything is drawn in a shadow root (the page's styles do not leak in, ours do not
 * leak out) and every text is set with textContent, never parsed as HTML. The visitor's
 * token is kept in localStorage, so the same visitor and the same conversation are found
 * again on the next page. After a reconnect the widget asks only for the messages after
 * the last one it shows, and sends again what was not acknowledged (the server stores
 * each message once).
 */
(function () {
  "use strict";
  const script = document.currentScript;
  if (!script || !script.dataset.site) {
    console.error("Switchboard chat: the script tag needs data-site");
    return;
  }
  const site = script.dataset.site;
  const server = new URL(script.src, location.href);
  const socketUrl = `${server.protocol === "https:" ? "wss:" : "ws:"}//${server.host}/api/v1/webchat/ws?site=${encodeURIComponent(site)}`;
  const storeKey = `switchboard-chat:${site}`;

  const TEXTS = {
    en: {
      open: "Chat with us", title: "Chat", placeholder: "Type a message…", send: "Send",
      attach: "Attach a file", file: "File", end: "End chat", typing: "Operator is typing…",
      sending: "sending…", offlineIntro: "Nobody can chat right now. Leave a message and we will get back to you.",
      afterHours: "We are closed now. Leave a message and we will get back to you.",
      name: "Your name", contact: "E-mail or phone", message: "Message", leave: "Leave a message",
      saved: "Thank you! We will get back to you.", rate: "How was this chat?", rated: "Thank you for your rating!",
      comment: "Comment (optional)", closed: "The chat has ended.", blocked: "You cannot send messages here.",
      transferred: "You are being transferred to a colleague…", reconnecting: "Reconnecting…",
      newChat: "Start a new chat", you: "You", agent: "Operator",
      errors: {
        too_long: "The message is too long.", rate_limited: "Too many messages. Please wait a moment.",
        file_too_large: "The file is too large.", file_type: "This type of file cannot be sent.",
        file_name: "The file name is not accepted.", empty: "The message is empty.",
      },
    },
    ru: {
      open: "Напишите нам", title: "Чат", placeholder: "Введите сообщение…", send: "Отправить",
      attach: "Прикрепить файл", file: "Файл", end: "Завершить чат", typing: "Оператор печатает…",
      sending: "отправляется…", offlineIntro: "Сейчас никто не может ответить. Оставьте сообщение, и мы свяжемся с вами.",
      afterHours: "Сейчас мы не работаем. Оставьте сообщение, и мы свяжемся с вами.",
      name: "Ваше имя", contact: "E-mail или телефон", message: "Сообщение", leave: "Оставить сообщение",
      saved: "Спасибо! Мы свяжемся с вами.", rate: "Оцените, пожалуйста, чат", rated: "Спасибо за оценку!",
      comment: "Комментарий (необязательно)", closed: "Чат завершён.", blocked: "Вы не можете отправлять сообщения.",
      transferred: "Переводим вас на коллегу…", reconnecting: "Переподключение…",
      newChat: "Начать новый чат", you: "Вы", agent: "Оператор",
      errors: {
        too_long: "Сообщение слишком длинное.", rate_limited: "Слишком много сообщений. Подождите немного.",
        file_too_large: "Файл слишком большой.", file_type: "Такой файл отправить нельзя.",
        file_name: "Недопустимое имя файла.", empty: "Пустое сообщение.",
      },
    },
  };
  const lang = (script.dataset.lang || navigator.language || "en").slice(0, 2).toLowerCase();
  const T = TEXTS[lang] || TEXTS.en;

  function load() {
    try { return JSON.parse(localStorage.getItem(storeKey)) || {}; } catch (_e) { return {}; }
  }
  function save(state) {
    try { localStorage.setItem(storeKey, JSON.stringify(state)); } catch (_e) { /* private mode */ }
  }
  const saved = load();
  const state = {
    token: saved.token || null,
    lastId: 0,
    conversationId: null,
    pending: new Map(), // ref -> {type, payload, element}
    ws: null,
    retryMs: 500,
    available: true,
    typingSent: 0,
    typingTimer: null,
  };

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value);
    }
    for (const child of children) node.append(child);
    return node;
  }

  const host = el("div", {"data-switchboard-chat": site});
  const root = host.attachShadow({mode: "open"});
  root.append(el("style", {text: `
    :host { all: initial; }
    * { box-sizing: border-box; font: 14px/1.4 system-ui, sans-serif; }
    .launcher { position: fixed; right: 20px; bottom: 20px; z-index: 2147483000; border: 0; border-radius: 24px;
      padding: 12px 18px; background: #1d4ed8; color: #fff; cursor: pointer; box-shadow: 0 2px 10px #0004; }
    .panel { position: fixed; right: 20px; bottom: 20px; z-index: 2147483001; width: 340px; height: 480px;
      max-height: calc(100vh - 40px); display: flex; flex-direction: column; background: #fff; color: #1d2433;
      border-radius: 10px; box-shadow: 0 4px 24px #0005; overflow: hidden; }
    .panel[hidden], .launcher[hidden], [hidden] { display: none !important; }
    header { display: flex; align-items: center; gap: 8px; padding: 10px 12px; background: #1d4ed8; color: #fff; }
    header strong { flex: 1; }
    header button { background: transparent; color: #fff; border: 1px solid #fff8; border-radius: 6px; cursor: pointer; padding: 2px 8px; }
    .log { flex: 1; overflow-y: auto; padding: 10px; display: flex; flex-direction: column; gap: 6px; background: #f5f6f8; }
    .msg { max-width: 80%; padding: 6px 10px; border-radius: 10px; white-space: pre-wrap; word-wrap: break-word; }
    .in { align-self: flex-end; background: #1d4ed8; color: #fff; }
    .out { align-self: flex-start; background: #fff; border: 1px solid #dde; }
    .msg small { display: block; opacity: .7; font-size: 11px; }
    .msg a { color: inherit; }
    .note { align-self: center; color: #667; font-size: 12px; text-align: center; }
    .error { color: #b00020; }
    .typing { padding: 0 12px 4px; color: #667; font-size: 12px; min-height: 18px; }
    form { display: flex; gap: 6px; padding: 8px; border-top: 1px solid #e3e5ea; align-items: flex-end; }
    textarea { flex: 1; resize: none; height: 38px; padding: 8px; border: 1px solid #ccd; border-radius: 6px; }
    input[type=text], .offline textarea { width: 100%; padding: 7px; border: 1px solid #ccd; border-radius: 6px; margin: 3px 0; }
    .offline { padding: 12px; overflow-y: auto; flex: 1; }
    .offline textarea { height: 90px; }
    button.primary { background: #1d4ed8; color: #fff; border: 0; border-radius: 6px; padding: 8px 12px; cursor: pointer; }
    .attach { border: 1px solid #ccd; background: #fff; border-radius: 6px; padding: 8px; cursor: pointer; }
    .rating { padding: 10px; text-align: center; border-top: 1px solid #e3e5ea; }
    .stars button { font-size: 22px; background: none; border: 0; cursor: pointer; color: #f59e0b; }
  `}));

  const launcher = el("button", {class: "launcher", type: "button", text: T.open});
  const log = el("div", {class: "log", role: "log", "aria-live": "polite"});
  const typing = el("div", {class: "typing"});
  const input = el("textarea", {placeholder: T.placeholder, "aria-label": T.message, maxlength: "4000"});
  const fileInput = el("input", {type: "file", hidden: ""});
  const attach = el("button", {class: "attach", type: "button", title: T.attach, "aria-label": T.attach, text: T.file});
  const sendButton = el("button", {class: "primary", type: "submit", text: T.send});
  const composer = el("form", {class: "composer"}, attach, fileInput, input, sendButton);
  const endButton = el("button", {type: "button", class: "end", text: T.end});
  const closeButton = el("button", {type: "button", "aria-label": "×", text: "×"});
  const offlineIntro = el("p", {class: "intro"});
  const offlineName = el("input", {type: "text", name: "name", placeholder: T.name, "aria-label": T.name, maxlength: "200"});
  const offlineContact = el("input", {type: "text", name: "contact", placeholder: T.contact, "aria-label": T.contact, maxlength: "320"});
  const offlineText = el("textarea", {name: "text", placeholder: T.message, "aria-label": T.message, maxlength: "4000"});
  const offlineDone = el("p", {class: "note", hidden: "", text: T.saved});
  const offline = el("form", {class: "offline", hidden: ""}, offlineIntro, offlineName, offlineContact, offlineText,
    el("button", {class: "primary", type: "submit", text: T.leave}), offlineDone);
  const rating = el("div", {class: "rating", hidden: ""});
  const panel = el("section", {class: "panel", hidden: "", role: "dialog", "aria-label": T.title},
    el("header", {}, el("strong", {text: script.dataset.title || T.title}), endButton, closeButton),
    log, typing, composer, offline, rating);
  root.append(launcher, panel);

  function note(text, cls) {
    log.append(el("div", {class: `note ${cls || ""}`, text}));
    log.scrollTop = log.scrollHeight;
  }

  function attachmentLink(attachment) {
    const url = new URL(attachment.url, server).href;
    return el("a", {href: url, target: "_blank", rel: "noopener noreferrer", text: `${T.file}: ${attachment.name}`});
  }

  function showMessage(message) {
    if (message.id && log.querySelector(`[data-id="${message.id}"]`)) return;
    const mine = message.direction === "in";
    const bubble = el("div", {class: `msg ${mine ? "in" : "out"}`, "data-id": String(message.id || "")});
    bubble.append(el("small", {text: mine ? T.you : (message.author || T.agent)}));
    if (message.text) bubble.append(document.createTextNode(message.text));
    if (message.attachment) {
      if (message.text) bubble.append(el("br"));
      bubble.append(attachmentLink(message.attachment));
    }
    log.append(bubble);
    log.scrollTop = log.scrollHeight;
    if (message.id && message.id > state.lastId) state.lastId = message.id;
    return bubble;
  }

  function showOffline(reason) {
    offlineIntro.textContent = reason === "after_hours" ? T.afterHours : T.offlineIntro;
    composer.hidden = true;
    offline.hidden = false;
  }

  function showRating(conversationId) {
    rating.textContent = "";
    const stars = el("div", {class: "stars"});
    const comment = el("input", {type: "text", placeholder: T.comment, "aria-label": T.comment, maxlength: "1000"});
    for (let score = 1; score <= 5; score += 1) {
      stars.append(el("button", {type: "button", "data-score": String(score), "aria-label": String(score), text: "★",
        onclick: () => send({type: "rate", conversation_id: conversationId, score, comment: comment.value})}));
    }
    rating.append(el("p", {text: T.rate}), stars, comment);
    rating.hidden = false;
  }

  function newRef() {
    return `w${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
  }

  function send(data) {
    if (state.ws && state.ws.readyState === WebSocket.OPEN) {
      state.ws.send(JSON.stringify(data));
      return true;
    }
    return false;
  }

  function submit(data) {
    // Kept until acknowledged: sent again after a reconnect.
    const ref = newRef();
    const payload = {...data, ref};
    const bubble = showMessage({direction: "in", text: data.text, attachment: data.name ? {name: data.name, url: "#"} : null});
    const pendingNote = el("small", {class: "pending", text: T.sending});
    bubble.append(pendingNote);
    state.pending.set(ref, {payload, bubble, pendingNote});
    send(payload);
  }

  function onAck(message) {
    const pending = state.pending.get(message.ref);
    if (!pending) return;
    state.pending.delete(message.ref);
    pending.pendingNote.remove();
    pending.bubble.setAttribute("data-id", String(message.id));
    if (message.attachment) {
      const link = pending.bubble.querySelector("a");
      if (link) link.replaceWith(attachmentLink(message.attachment));
    }
    state.conversationId = message.conversation_id;
    if (message.id > state.lastId) state.lastId = message.id;
    rating.hidden = true;
  }

  function onError(message) {
    const pending = message.ref ? state.pending.get(message.ref) : null;
    if (pending) {
      state.pending.delete(message.ref);
      pending.pendingNote.textContent = (T.errors[message.reason] || message.message);
      pending.pendingNote.classList.add("error");
    }
    if (message.offline) {
      showOffline(message.reason);
    } else if (!pending) {
      note(T.errors[message.reason] || message.message, "error");
    }
  }

  function onWelcome(message) {
    state.token = message.token;
    save({token: state.token});
    state.retryMs = 500;
    const conversation = message.conversation;
    state.conversationId = conversation ? conversation.id : null;
    for (const m of message.messages) showMessage(m);
    if (conversation && conversation.state === "closed" && !conversation.rated) showRating(conversation.id);
    const open = conversation && conversation.state === "open";
    state.available = message.available || open;
    if (!state.available && offline.hidden) showOffline(message.reason);
    for (const pending of state.pending.values()) send(pending.payload);
  }

  function onMessage(event) {
    let message;
    try { message = JSON.parse(event.data); } catch (_e) { return; }
    switch (message.type) {
      case "welcome": onWelcome(message); break;
      case "ack": onAck(message); break;
      case "error": onError(message); break;
      case "message": typing.textContent = ""; showMessage(message); break;
      case "typing": typing.textContent = message.on ? T.typing : ""; break;
      case "closed": note(T.closed); typing.textContent = ""; showRating(message.conversation_id); break;
      case "rated": rating.textContent = ""; rating.append(el("p", {text: T.rated})); break;
      case "transferred": note(T.transferred); break;
      case "offline_saved": offlineDone.hidden = false; offlineText.value = ""; break;
      case "blocked": note(T.blocked, "error"); composer.hidden = true; state.blocked = true; break;
      default: break;
    }
  }

  function connect() {
    if (state.blocked) return;
    const ws = new WebSocket(socketUrl);
    state.ws = ws;
    ws.addEventListener("open", () => {
      ws.send(JSON.stringify({type: "hello", token: state.token, after: state.lastId}));
    });
    ws.addEventListener("message", onMessage);
    ws.addEventListener("close", () => {
      if (state.ws !== ws || state.blocked) return;
      note(T.reconnecting);
      setTimeout(connect, state.retryMs);
      state.retryMs = Math.min(state.retryMs * 2, 15000);
    });
  }

  composer.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    submit({type: "message", text});
    send({type: "typing", on: false});
    state.typingSent = 0;
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      composer.requestSubmit();
    }
  });
  input.addEventListener("input", () => {
    const now = Date.now();
    if (now - state.typingSent > 2000) {
      state.typingSent = now;
      send({type: "typing", on: true});
    }
    clearTimeout(state.typingTimer);
    state.typingTimer = setTimeout(() => { state.typingSent = 0; send({type: "typing", on: false}); }, 3000);
  });
  attach.addEventListener("click", () => fileInput.click());
  fileInput.addEventListener("change", () => {
    const file = fileInput.files[0];
    fileInput.value = "";
    if (!file) return;
    const reader = new FileReader();
    reader.addEventListener("load", () => {
      const data = String(reader.result).split(",", 2)[1] || "";
      submit({type: "file", name: file.name, content_type: file.type || "application/octet-stream", data, text: ""});
    });
    reader.readAsDataURL(file);
  });
  offline.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!offlineText.value.trim()) return;
    send({type: "offline", ref: newRef(), name: offlineName.value, contact: offlineContact.value, text: offlineText.value});
  });
  endButton.addEventListener("click", () => send({type: "close"}));
  launcher.addEventListener("click", () => {
    launcher.hidden = true;
    panel.hidden = false;
    if (!state.ws) connect();
    input.focus();
  });
  closeButton.addEventListener("click", () => { panel.hidden = true; launcher.hidden = false; });

  function mount() { document.body.append(host); }
  if (document.body) mount(); else document.addEventListener("DOMContentLoaded", mount);
  if (saved.token) connect();
})();
