// UI texts of the operator and admin pages, in English and Russian. Chosen once per
// browser (localStorage), the browser's language by default.
const TEXTS = {
  en: {
    signOut: "Sign out", admin: "Administration", operator: "Operator page",
    status: "Status", available: "Available", paused: "Paused", away: "Away", offline: "Offline",
    pauseReason: "Pause reason", reasonBreak: "Break", reasonLunch: "Lunch", reasonTraining: "Training", reasonMeeting: "Meeting",
    connected: "Connected", reconnecting: "Reconnecting…",
    offers: "Offers", noOffers: "No offers", current: "Current", noCurrent: "Nothing in progress",
    accept: "Accept", decline: "Decline", ringing: "Ringing on your phone", expiresIn: "{s} s left",
    customer: "Customer", noCustomer: "Select an offer or interaction", unknownCustomer: "Unknown customer", visitor: "Site visitor",
    number: "Number", recording: "Recording", tags: "Tags", addTag: "Add tag", lastContacts: "Last contacts", noContacts: "No earlier contacts",
    ivrPath: "IVR path", waited: "Waited", seconds: "{s} s", callbackPage: "Page", callbackComment: "Comment",
    incomingCall: "Incoming call", callbackCall: "Callback",
    chat: "Chat", typing: "Customer is typing…", message: "Message", send: "Send", attach: "Attach file",
    canned: "Canned responses", close: "Close chat", block: "Block visitor", blockReason: "Reason for blocking",
    transfer: "Transfer", transferTo: "Transfer to", toAgent: "Agent", toDepartment: "Department", toNumber: "Number",
    chatClosed: "Chat closed", chatClosedBy: "Closed by {by}",
    hangUp: "Hang up", call: "Call", clickToCall: "Call a number", numberPlaceholder: "+7 999 000 11 22",
    wrapUp: "Wrap-up", disposition: "Disposition", notes: "Notes", save: "Save", wrapUpUntil: "Wrap-up: {s} s left",
    saved: "Saved", error: "Error", you: "You", system: "System",
    channel_voice: "Call", channel_callback: "Callback", channel_webchat: "Web chat", channel_telegram: "Telegram",
    channel_sms: "SMS", channel_whatsapp: "WhatsApp", channel_email: "E-mail",
    state_accepted: "In progress", state_wrap_up: "Wrap-up", state_completed: "Completed", state_requeued: "Requeued",
    keys: "Keys: Alt+A accept · Alt+D decline · Alt+1…9 switch · Enter send · Shift+Enter new line",
    noPhone: "No softphone is linked to you", language: "Language",
    users: "Users", agents: "Agents and SIP", departments: "Departments", profiles: "Skills, capacity, costs",
    cannedAdmin: "Canned responses", sites: "Web chat sites", dispositions: "Dispositions",
    username: "Username", displayName: "Display name", role: "Role", password: "Password", active: "Active",
    create: "Create", update: "Update", remove: "Remove", sipEndpoint: "SIP endpoint", sipSecret: "SIP secret",
    name: "Name", supervisors: "Supervisor ids", settings: "Settings (JSON)", capacity: "Capacity",
    skills: "Skills (JSON)", channelCosts: "Channel costs (JSON)", departmentIds: "Department ids", wrapupS: "Wrap-up (s)",
    title: "Title", body: "Text", department: "Department", allowedOrigins: "Allowed origins", schedule: "Schedule (JSON)",
    embed: "Embed code", code: "Code", label: "Label", position: "Position", user: "User", agent: "Agent",
  },
  ru: {
    signOut: "Выйти", admin: "Администрирование", operator: "Рабочее место",
    status: "Статус", available: "На линии", paused: "Перерыв", away: "Отошёл", offline: "Не в сети",
    pauseReason: "Причина перерыва", reasonBreak: "Перерыв", reasonLunch: "Обед", reasonTraining: "Обучение", reasonMeeting: "Совещание",
    connected: "Подключено", reconnecting: "Переподключение…",
    offers: "Предложения", noOffers: "Нет предложений", current: "В работе", noCurrent: "Ничего в работе",
    accept: "Принять", decline: "Отклонить", ringing: "Звонит ваш телефон", expiresIn: "осталось {s} с",
    customer: "Клиент", noCustomer: "Выберите предложение или обращение", unknownCustomer: "Неизвестный клиент", visitor: "Посетитель сайта",
    number: "Номер", recording: "Запись разговора", tags: "Метки", addTag: "Добавить метку", lastContacts: "Последние обращения", noContacts: "Ранее не обращался",
    ivrPath: "Путь в IVR", waited: "Ожидание", seconds: "{s} с", callbackPage: "Страница", callbackComment: "Комментарий",
    incomingCall: "Входящий звонок", callbackCall: "Обратный звонок",
    chat: "Чат", typing: "Клиент печатает…", message: "Сообщение", send: "Отправить", attach: "Прикрепить файл",
    canned: "Шаблоны ответов", close: "Закрыть чат", block: "Заблокировать", blockReason: "Причина блокировки",
    transfer: "Перевести", transferTo: "Перевести на", toAgent: "Оператора", toDepartment: "Отдел", toNumber: "Номер",
    chatClosed: "Чат закрыт", chatClosedBy: "Закрыл: {by}",
    hangUp: "Положить трубку", call: "Позвонить", clickToCall: "Позвонить на номер", numberPlaceholder: "+7 999 000 11 22",
    wrapUp: "Завершение", disposition: "Результат", notes: "Заметки", save: "Сохранить", wrapUpUntil: "Завершение: осталось {s} с",
    saved: "Сохранено", error: "Ошибка", you: "Вы", system: "Система",
    channel_voice: "Звонок", channel_callback: "Обратный звонок", channel_webchat: "Веб-чат", channel_telegram: "Telegram",
    channel_sms: "SMS", channel_whatsapp: "WhatsApp", channel_email: "E-mail",
    state_accepted: "В работе", state_wrap_up: "Завершение", state_completed: "Завершено", state_requeued: "Возвращено в очередь",
    keys: "Клавиши: Alt+A принять · Alt+D отклонить · Alt+1…9 переключить · Enter отправить · Shift+Enter перенос",
    noPhone: "К вам не привязан софтфон", language: "Язык",
    users: "Пользователи", agents: "Операторы и SIP", departments: "Отделы", profiles: "Навыки, ёмкость, стоимость",
    cannedAdmin: "Шаблоны ответов", sites: "Сайты веб-чата", dispositions: "Результаты обращений",
    username: "Логин", displayName: "Имя", role: "Роль", password: "Пароль", active: "Активен",
    create: "Создать", update: "Изменить", remove: "Удалить", sipEndpoint: "SIP-аккаунт", sipSecret: "SIP-пароль",
    name: "Название", supervisors: "Id супервизоров", settings: "Настройки (JSON)", capacity: "Ёмкость",
    skills: "Навыки (JSON)", channelCosts: "Стоимость каналов (JSON)", departmentIds: "Id отделов", wrapupS: "Завершение (с)",
    title: "Заголовок", body: "Текст", department: "Отдел", allowedOrigins: "Разрешённые источники", schedule: "Расписание (JSON)",
    embed: "Код для вставки", code: "Код", label: "Название", position: "Порядок", user: "Пользователь", agent: "Оператор",
  },
};

const KEY = "switchboard-lang";

export function language() {
  const chosen = localStorage.getItem(KEY);
  if (chosen && TEXTS[chosen]) return chosen;
  return (navigator.language || "en").toLowerCase().startsWith("ru") ? "ru" : "en";
}

export function setLanguage(lang) {
  localStorage.setItem(KEY, lang);
}

export function t(key, values) {
  const text = TEXTS[language()][key] ?? TEXTS.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_m, name) => String(values?.[name] ?? ""));
}

// Fills every [data-t] element's text (and [data-t-placeholder] / [data-t-title]).
export function translate(root = document) {
  document.documentElement.lang = language();
  for (const node of root.querySelectorAll("[data-t]")) node.textContent = t(node.dataset.t);
  for (const node of root.querySelectorAll("[data-t-placeholder]")) node.placeholder = t(node.dataset.tPlaceholder);
  for (const node of root.querySelectorAll("[data-t-title]")) node.title = t(node.dataset.tTitle);
}
