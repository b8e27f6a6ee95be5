"use strict";

// tierlink web UI: hash-routed pages over /api/v1. No framework, no build.
// Every piece of data reaches the DOM as text (textContent, text nodes or
// attributes), never as markup.

const I18N = {
  en: {
    "app.title": "tierlink",
    "nav.review": "Review",
    "nav.customers": "Customers",
    "nav.dashboard": "Dashboard",
    "nav.connectors": "Connectors",
    "nav.push": "Push",
    "lang.switch": "中文",
    "lang.label": "Switch language to Chinese",
    "logout": "Sign out",
    "close": "Dismiss",
    "role.admin": "admin",
    "role.steward": "steward",
    "role.viewer": "viewer",
    "loading": "Loading…",
    "none": "Nothing to show.",
    "refresh": "Refresh",
    "err.network": "The server could not be reached.",
    "err.session": "Your session has ended; sign in again.",
    "err.forbidden": "Your role may not do this.",
    "err.page": "This page could not be loaded.",
    "login.title": "Sign in to tierlink",
    "login.hint": "Paste the API token you were given.",
    "login.token": "API token",
    "login.submit": "Sign in",
    "login.invalid": "This token is not valid.",
    "review.title": "Review queue",
    "review.open": "Open items",
    "review.showing": "showing {0} of {1} open, highest priority first",
    "review.empty": "No open items: every pair is decided.",
    "review.item": "Review item #{0}",
    "review.back": "Back to the queue",
    "review.left": "Left record",
    "review.right": "Right record",
    "review.field": "Field",
    "review.missing": "record not found",
    "review.updated": "updated {0}",
    "review.score": "Score explanation",
    "review.probability": "Probability",
    "review.weight": "Match weight",
    "review.priority": "Priority",
    "review.against": "← against a match",
    "review.for": "for a match →",
    "review.noExplanation": "No field contributions recorded.",
    "review.reason": "Reason (optional)",
    "review.reasonHint": "why you decided so",
    "review.accept": "Accept",
    "review.reject": "Reject",
    "review.skip": "Skip",
    "review.undo": "Undo",
    "review.next": "Next item",
    "review.readOnly": "Your role can view the queue but not decide.",
    "review.decided": "This item is {0} ({1}, decision #{2}).",
    "review.queueDone": "No other open items.",
    "status.open": "open",
    "status.accepted": "accepted",
    "status.rejected": "rejected",
    "outcome.accept": "Accepted: decision #{0}.",
    "outcome.reject": "Rejected: decision #{0}.",
    "outcome.merged": "Merged customer:",
    "outcome.separate": "Customers kept apart:",
    "outcome.summary": "Resolution: {0} records, {1} golden customers; {2} customers updated, {3} ids merged.",
    "outcome.undone": "Decision #{0} undone; the item is open again.",
    "col.id": "ID",
    "col.left": "Left",
    "col.right": "Right",
    "col.created": "Created",
    "col.record": "Record",
    "col.date": "Date",
    "col.status": "Status",
    "col.amount": "Amount",
    "col.channel": "Channel",
    "col.solved": "Solved",
    "col.satisfaction": "Rating",
    "col.direction": "Direction",
    "col.numbers": "Caller → callee",
    "col.talk": "Talk time",
    "col.disposition": "Result",
    "col.party": "Party / phone",
    "col.from": "From",
    "col.to": "To",
    "col.rule": "Rule",
    "col.rulesVersion": "Rules version",
    "col.value": "Value",
    "col.source": "Source record",
    "col.feature": "Feature",
    "col.newId": "New id",
    "col.oldId": "Old id",
    "col.reason": "Reason",
    "col.action": "Action",
    "col.detail": "Detail",
    "col.actor": "By",
    "col.records": "Records",
    "col.tier": "Tier",
    "customers.title": "Customers",
    "customers.search": "Search",
    "customers.placeholder": "name, phone, e-mail or company",
    "customers.tier": "Tier",
    "customers.allTiers": "All tiers",
    "customers.go": "Search",
    "customers.count": "{0} customers shown (at most 50)",
    "customers.empty": "No customer matches.",
    "customer.fields": "Golden record",
    "customer.pinned": "steward decision",
    "customer.tier": "Tier",
    "customer.noTier": "No tier assigned yet.",
    "customer.assigned": "Rule {0} · rules version {1} · assigned {2}",
    "customer.history": "Tier history",
    "customer.records": "Linked source records ({0})",
    "customer.raw": "Raw payload: {0}",
    "customer.evidence": "Why linked",
    "customer.orders": "Orders ({0}, paid total {1})",
    "customer.tickets": "Tickets ({0})",
    "customer.calls": "Calls ({0})",
    "customer.messages": "Messages ({0})",
    "customer.lineage": "Id lineage",
    "customer.decisions": "Steward decisions",
    "ev.shared": "shared keys: {0}",
    "ev.match": "matched {0} at {1} (weight {2})",
    "ev.decisions": "steward decisions: {0}",
    "tier.none": "no tier",
    "tier.new": "(new)",
    "tier.untiered": "untiered",
    "dashboard.title": "Tier dashboard",
    "dashboard.rules": "Rules version {0} · {1} customers",
    "dashboard.period": "Period",
    "dashboard.days": "last {0} days",
    "dashboard.distribution": "Distribution",
    "dashboard.migration": "Migration since {0} (until {1})",
    "dashboard.migrationAxis": "from ↓ / to →",
    "dashboard.history": "Changes into each tier per day",
    "dashboard.bySource": "Tiers by source system",
    "dashboard.noMoves": "No tier changes in this period.",
    "dashboard.tiers": "Tiers",
    "dashboard.goal": "Goal",
    "dashboard.actions": "Actions",
    "connectors.title": "Connectors",
    "connectors.type": "Type",
    "connectors.description": "Description",
    "connectors.streams": "Streams",
    "connectors.schedule": "Schedule",
    "connectors.sink": "Sink",
    "connectors.staged": "Staged",
    "connectors.parties": "Parties",
    "connectors.orders": "Orders",
    "connectors.rejected": "Rejected",
    "connectors.sync": "Sync now",
    "connectors.syncStarted": "Sync of {0} started.",
    "jobs.title": "Jobs",
    "jobs.name": "Job",
    "jobs.next": "Next run",
    "jobs.running": "Running",
    "jobs.idle": "idle",
    "runs.title": "Recent runs",
    "runs.kind": "Kind",
    "runs.started": "Started",
    "runs.finished": "Finished",
    "runs.summary": "Summary",
    "runs.full": "Run full",
    "runs.incremental": "Run incremental",
    "runs.push": "Push",
    "runs.startedMsg": "Run ({0}) started.",
    "push.title": "Push",
    "push.ledger": "Ledger per system",
    "push.system": "System",
    "push.pending": "Pending",
    "push.delivered": "Delivered",
    "push.failed": "Failed",
    "push.dropped": "Dropped",
    "push.openLetters": "Open dead letters",
    "push.letters": "Open dead letters ({0})",
    "push.noLetters": "No open dead letters.",
    "push.label": "Label",
    "push.attempts": "Attempts",
    "push.updated": "Last tried",
    "push.request": "Request and response",
    "field.name": "Name",
    "field.kind": "Kind",
    "field.phones": "Phones",
    "field.emails": "E-mails",
    "field.company": "Company",
    "field.address": "Address",
    "field.strong_id": "Id",
    "field.mobile": "Mobile",
    "field.landline": "Landline",
    "field.email": "E-mail",
    "field.city": "City",
    "field.uscc": "Credit code",
    "field.unionid": "WeChat unionid",
    "kind.person": "person",
    "kind.company": "company",
  },
  zh: {
    "app.title": "tierlink",
    "nav.review": "待审核",
    "nav.customers": "客户",
    "nav.dashboard": "分层看板",
    "nav.connectors": "连接器",
    "nav.push": "回写",
    "lang.switch": "English",
    "lang.label": "切换为英文",
    "logout": "退出",
    "close": "关闭",
    "role.admin": "管理员",
    "role.steward": "数据管理员",
    "role.viewer": "只读用户",
    "loading": "加载中…",
    "none": "暂无数据。",
    "refresh": "刷新",
    "err.network": "无法连接服务器。",
    "err.session": "登录已失效，请重新登录。",
    "err.forbidden": "您的角色无权执行此操作。",
    "err.page": "页面加载失败。",
    "login.title": "登录 tierlink",
    "login.hint": "请粘贴分配给您的 API 令牌。",
    "login.token": "API 令牌",
    "login.submit": "登录",
    "login.invalid": "令牌无效。",
    "review.title": "审核队列",
    "review.open": "待审核条目",
    "review.showing": "显示 {1} 条待审核中的 {0} 条，按优先级从高到低",
    "review.empty": "没有待审核条目：所有配对均已处理。",
    "review.item": "审核条目 #{0}",
    "review.back": "返回队列",
    "review.left": "左侧记录",
    "review.right": "右侧记录",
    "review.field": "字段",
    "review.missing": "找不到记录",
    "review.updated": "更新于 {0}",
    "review.score": "评分说明",
    "review.probability": "匹配概率",
    "review.weight": "匹配权重",
    "review.priority": "优先级",
    "review.against": "← 不支持合并",
    "review.for": "支持合并 →",
    "review.noExplanation": "没有字段贡献记录。",
    "review.reason": "理由（可选）",
    "review.reasonHint": "做出此决定的原因",
    "review.accept": "接受",
    "review.reject": "拒绝",
    "review.skip": "跳过",
    "review.undo": "撤销",
    "review.next": "下一条",
    "review.readOnly": "您的角色可以查看队列，但不能做决定。",
    "review.decided": "此条目已{0}（{1}，决定 #{2}）。",
    "review.queueDone": "没有其他待审核条目。",
    "status.open": "待审核",
    "status.accepted": "接受",
    "status.rejected": "拒绝",
    "outcome.accept": "已接受：决定 #{0}。",
    "outcome.reject": "已拒绝：决定 #{0}。",
    "outcome.merged": "合并后的客户：",
    "outcome.separate": "保持分开的客户：",
    "outcome.summary": "重新解析：{0} 条记录，{1} 个黄金客户；更新 {2} 个客户，合并 {3} 个编号。",
    "outcome.undone": "决定 #{0} 已撤销，条目重新待审核。",
    "col.id": "编号",
    "col.left": "左侧",
    "col.right": "右侧",
    "col.created": "创建时间",
    "col.record": "记录",
    "col.date": "日期",
    "col.status": "状态",
    "col.amount": "金额",
    "col.channel": "渠道",
    "col.solved": "解决时间",
    "col.satisfaction": "评价",
    "col.direction": "方向",
    "col.numbers": "主叫 → 被叫",
    "col.talk": "通话时长",
    "col.disposition": "结果",
    "col.party": "客户 / 电话",
    "col.from": "原分层",
    "col.to": "新分层",
    "col.rule": "规则",
    "col.rulesVersion": "规则版本",
    "col.value": "值",
    "col.source": "来源记录",
    "col.feature": "特征",
    "col.newId": "新编号",
    "col.oldId": "原编号",
    "col.reason": "原因",
    "col.action": "操作",
    "col.detail": "详情",
    "col.actor": "操作人",
    "col.records": "记录数",
    "col.tier": "分层",
    "customers.title": "客户",
    "customers.search": "搜索",
    "customers.placeholder": "姓名、电话、邮箱或公司",
    "customers.tier": "分层",
    "customers.allTiers": "全部分层",
    "customers.go": "搜索",
    "customers.count": "显示 {0} 位客户（最多 50 位）",
    "customers.empty": "没有匹配的客户。",
    "customer.fields": "黄金记录",
    "customer.pinned": "人工决定",
    "customer.tier": "分层",
    "customer.noTier": "尚未分层。",
    "customer.assigned": "规则 {0} · 规则版本 {1} · 分配于 {2}",
    "customer.history": "分层历史",
    "customer.records": "关联的源记录（{0}）",
    "customer.raw": "原始数据：{0}",
    "customer.evidence": "关联依据",
    "customer.orders": "订单（{0} 笔，已付合计 {1}）",
    "customer.tickets": "工单（{0}）",
    "customer.calls": "通话（{0}）",
    "customer.messages": "消息（{0}）",
    "customer.lineage": "编号沿革",
    "customer.decisions": "人工决定",
    "ev.shared": "共享标识：{0}",
    "ev.match": "与 {0} 匹配，概率 {1}（权重 {2}）",
    "ev.decisions": "人工决定：{0}",
    "tier.none": "未分层",
    "tier.new": "（新）",
    "tier.untiered": "未分层",
    "dashboard.title": "分层看板",
    "dashboard.rules": "规则版本 {0} · 共 {1} 位客户",
    "dashboard.period": "时间范围",
    "dashboard.days": "最近 {0} 天",
    "dashboard.distribution": "分层分布",
    "dashboard.migration": "{0} 以来的分层迁移（截至 {1}）",
    "dashboard.migrationAxis": "原分层 ↓ / 新分层 →",
    "dashboard.history": "每日进入各分层的变化",
    "dashboard.bySource": "各来源系统的分层",
    "dashboard.noMoves": "此期间没有分层变化。",
    "dashboard.tiers": "分层说明",
    "dashboard.goal": "目标",
    "dashboard.actions": "措施",
    "connectors.title": "连接器",
    "connectors.type": "类型",
    "connectors.description": "说明",
    "connectors.streams": "数据流",
    "connectors.schedule": "计划",
    "connectors.sink": "回写目标",
    "connectors.staged": "已暂存",
    "connectors.parties": "客户记录",
    "connectors.orders": "订单",
    "connectors.rejected": "已拒收",
    "connectors.sync": "立即同步",
    "connectors.syncStarted": "已开始同步 {0}。",
    "jobs.title": "任务",
    "jobs.name": "任务",
    "jobs.next": "下次运行",
    "jobs.running": "运行中",
    "jobs.idle": "空闲",
    "runs.title": "最近运行",
    "runs.kind": "类型",
    "runs.started": "开始",
    "runs.finished": "结束",
    "runs.summary": "摘要",
    "runs.full": "全量运行",
    "runs.incremental": "增量运行",
    "runs.push": "回写",
    "runs.startedMsg": "已开始运行（{0}）。",
    "push.title": "回写",
    "push.ledger": "各系统回写台账",
    "push.system": "系统",
    "push.pending": "待发送",
    "push.delivered": "已送达",
    "push.failed": "失败",
    "push.dropped": "已放弃",
    "push.openLetters": "未处理死信",
    "push.letters": "未处理死信（{0}）",
    "push.noLetters": "没有未处理的死信。",
    "push.label": "标签",
    "push.attempts": "尝试次数",
    "push.updated": "最近尝试",
    "push.request": "请求与响应",
    "field.name": "姓名",
    "field.kind": "类型",
    "field.phones": "电话",
    "field.emails": "邮箱",
    "field.company": "公司",
    "field.address": "地址",
    "field.strong_id": "标识",
    "field.mobile": "手机",
    "field.landline": "座机",
    "field.email": "邮箱",
    "field.city": "城市",
    "field.uscc": "统一社会信用代码",
    "field.unionid": "微信 unionid",
    "kind.person": "个人",
    "kind.company": "公司",
  },
};

// One colour per tier, by the tier's position in the rules.
const TIER_COLOURS = ["#2563eb", "#16a34a", "#d97706", "#dc2626", "#7c3aed", "#0891b2", "#db2777", "#65a30d"];
const NO_TIER_COLOUR = "#9ca3af";
const PERIODS = [30, 90, 365];

const state = {
  lang: initialLang(),
  token: localStorage.getItem("tierlink.token"),
  me: null,
  tiers: null,
  seq: 0,
  flashFor: null,
  skipped: new Set(),
};

function initialLang() {
  const saved = localStorage.getItem("tierlink.lang");
  if (saved === "en" || saved === "zh") return saved;
  return (navigator.language || "").toLowerCase().startsWith("zh") ? "zh" : "en";
}

function t(key, ...args) {
  const text = I18N[state.lang][key] ?? I18N.en[key] ?? key;
  return text.replace(/\{(\d+)\}/g, (_, i) => String(args[i] ?? ""));
}

// The translation of key when the dictionary has one, else fallback.
function tOr(key, fallback) {
  return I18N[state.lang][key] ? t(key) : fallback;
}

const fieldLabel = (field) => tOr(`field.${field}`, field);
const statusLabel = (status) => tOr(`status.${status}`, status);

// ---------- DOM helpers ----------

const $ = (selector, root = document) => root.querySelector(selector);

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child == null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

// h("tag", {class, onclick, "data-x": ..., ...}, ...children): strings become text nodes.
function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value == null || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (key === "style") for (const [name, v] of Object.entries(value)) el.style.setProperty(name, v);
    else el.setAttribute(key, value === true ? "" : value);
  }
  return append(el, children);
}

const SVG_NS = "http://www.w3.org/2000/svg";

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value != null) el.setAttribute(key, value);
  }
  return append(el, children);
}

function section(title, ...children) {
  return h("section", { class: "card" }, h("h2", {}, title), children);
}

// columns: [{label, cell: item => content, num}]; rowProps: item => props of its <tr>.
function dataTable(columns, items, { rowProps, empty } = {}) {
  if (!items.length) return h("p", { class: "empty" }, empty || t("none"));
  return h("div", { class: "table-wrap" }, h("table", { class: "grid" },
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col", class: c.num ? "num" : null }, c.label)))),
    h("tbody", {}, items.map((item) => h("tr", rowProps ? rowProps(item) : {},
      columns.map((c) => h("td", { class: c.num ? "num" : null }, c.cell(item))))))));
}

function shortcutButton(id, key, label, cls, onclick) {
  return h("button", { type: "button", id, class: cls, "aria-keyshortcuts": key, onclick }, label, " ", h("kbd", {}, key));
}

function details(summary, value) {
  return h("details", {}, h("summary", {}, summary), h("pre", {}, JSON.stringify(value, null, 2)));
}

// ---------- formatting ----------

const locale = () => (state.lang === "zh" ? "zh-CN" : "en-US");
const pad = (n) => String(n).padStart(2, "0");
const fmtNum = (n) => Number(n ?? 0).toLocaleString(locale());
const pct = (p) => `${(Number(p) * 100).toFixed(1)}%`;
const signed = (w) => (w >= 0 ? "+" : "") + Number(w).toFixed(2);
const keyText = (key) => (key ? `${key.connector}/${key.source_id}` : "—");
const isoDay = (date) => date.toISOString().slice(0, 10);

function fmtDate(text) {
  if (!text) return "—";
  const d = new Date(text);
  if (Number.isNaN(d.getTime())) return String(text);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function fmtSeconds(total) {
  const sec = Number(total) || 0;
  return sec >= 60 ? `${Math.floor(sec / 60)}:${pad(sec % 60)}` : `${sec}s`;
}

function show(value) {
  if (value == null || value === "") return "—";
  if (Array.isArray(value)) return value.length ? value.map(show).join(", ") : "—";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

// A value as DOM: lists one item per line, missing values dimmed.
function valueNode(value) {
  if (Array.isArray(value) && value.length) return value.map((v) => h("div", {}, show(v)));
  const text = show(value);
  return text === "—" ? h("span", { class: "muted" }, text) : text;
}

function statusBadge(status) {
  return h("span", { class: `badge status-${String(status).replace(/[^a-z_-]/gi, "")}` }, statusLabel(status));
}

function customerLink(goldenId) {
  return h("a", { class: "customer-link", href: `#/customers/${encodeURIComponent(goldenId)}` }, goldenId);
}

// ---------- tiers ----------

async function loadTiers() {
  state.tiers = state.tiers || (await api("/tiers"));
  return state.tiers;
}

function tierList() {
  return state.tiers ? state.tiers.tiers : [];
}

function tierColour(key) {
  const index = tierList().findIndex((tier) => tier.key === key);
  return index < 0 ? NO_TIER_COLOUR : TIER_COLOURS[index % TIER_COLOURS.length];
}

function tierName(key) {
  if (key == null) return t("tier.none");
  const tier = tierList().find((x) => x.key === key);
  if (!tier) return key;
  return (state.lang === "zh" ? tier.name_zh : tier.name_en) || key;
}

function tierChip(key) {
  return h("span", { class: "tier-chip", style: { "--tier": tierColour(key) }, title: key || "" }, tierName(key));
}

// Tier keys in rule order, then any others the data names.
function tierKeys(extra = []) {
  const keys = tierList().map((tier) => tier.key);
  for (const key of extra) if (key != null && !keys.includes(key)) keys.push(key);
  return keys;
}

// ---------- API ----------

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function api(path, { method = "GET", body } = {}) {
  const headers = { Authorization: `Bearer ${state.token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(`/api/v1${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (err) {
    flash(t("err.network"), "error");
    throw new ApiError(0, err.message);
  }
  const data = await response.json().catch(() => null);
  if (response.ok) return data;
  const message = (data && data.error) || `${response.status} ${response.statusText}`;
  if (response.status === 401) {
    flash(t("err.session"), "error", "#/login");
    signOut();
  } else if (response.status === 403) {
    flash(`${t("err.forbidden")} (${message})`, "error");
  } else {
    flash(message, "error");
  }
  throw new ApiError(response.status, message);
}

// ---------- session, flash, chrome ----------

const isAdmin = () => state.me && state.me.role === "admin";
const canDecide = () => state.me && (state.me.role === "admin" || state.me.role === "steward");
const homeRoute = () => (state.me && state.me.role === "viewer" ? "#/dashboard" : "#/review");

function signOut() {
  state.token = null;
  state.me = null;
  state.tiers = null;
  localStorage.removeItem("tierlink.token");
  go("#/login");
}

// A flash is cleared by the next route change, unless it was raised for the
// route being shown (keepFor), as when a page re-renders after an action.
function flash(message, kind = "info", keepFor = null) {
  const el = $("#flash");
  el.className = kind;
  el.setAttribute("role", kind === "error" ? "alert" : "status");
  el.replaceChildren(h("span", {}, message),
    h("button", { type: "button", class: "flash-close", "aria-label": t("close"), onclick: clearFlash }, "×"));
  el.hidden = false;
  state.flashFor = keepFor;
}

function clearFlash() {
  const el = $("#flash");
  el.hidden = true;
  el.replaceChildren();
  state.flashFor = null;
}

function renderChrome(active) {
  const signedIn = Boolean(state.me);
  document.documentElement.lang = state.lang === "zh" ? "zh-CN" : "en";
  $("#nav").hidden = !signedIn;
  for (const link of document.querySelectorAll("[data-nav]")) {
    link.textContent = t(`nav.${link.dataset.nav}`);
    link.classList.toggle("active", link.dataset.nav === active);
    if (link.dataset.nav === active) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const who = $("#whoami");
  who.hidden = !signedIn;
  who.replaceChildren(...(signedIn ? [h("strong", {}, state.me.name), " ", h("span", { class: "role" }, t(`role.${state.me.role}`))] : []));
  const logout = $("#logout");
  logout.hidden = !signedIn;
  logout.textContent = t("logout");
  const lang = $("#lang");
  lang.textContent = t("lang.switch");
  lang.setAttribute("aria-label", t("lang.label"));
}

// ---------- router ----------

const ROUTES = [
  [/^login$/, pageLogin, null],
  [/^review$/, pageReviewQueue, "review"],
  [/^review\/(\d+)$/, pageReviewItem, "review"],
  [/^customers$/, pageCustomers, "customers"],
  [/^customers\/(.+)$/, pageCustomer, "customers"],
  [/^dashboard$/, pageDashboard, "dashboard"],
  [/^connectors$/, pageConnectors, "connectors"],
  [/^push$/, pagePush, "push"],
];

function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

async function route() {
  const seq = ++state.seq;
  if (state.flashFor !== location.hash) clearFlash();
  const raw = location.hash.replace(/^#\/?/, "");
  const cut = raw.indexOf("?");
  const path = (cut < 0 ? raw : raw.slice(0, cut)).replace(/\/$/, "");
  const params = new URLSearchParams(cut < 0 ? "" : raw.slice(cut + 1));
  if (!state.me && path !== "login") return go("#/login");
  const match = ROUTES.find(([pattern]) => pattern.test(path));
  if (!match || (state.me && path === "login")) return go(state.me ? homeRoute() : "#/login");
  const [pattern, page, nav] = match;
  const args = path.match(pattern).slice(1).map(decodeURIComponent);
  renderChrome(nav);
  document.title = nav ? `${t(`nav.${nav}`)} · ${t("app.title")}` : t("app.title");
  const view = $("#view");
  view.replaceChildren(h("p", { class: "muted loading" }, t("loading")));
  try {
    const content = await page({ args, params });
    if (seq !== state.seq) return;
    view.replaceChildren(content);
    const focus = $("[autofocus]", view);
    if (focus) focus.focus();
  } catch (err) {
    if (seq !== state.seq || err.status === 401) return;
    if (!(err instanceof ApiError)) flash(String(err.message || err), "error");
    view.replaceChildren(h("p", { class: "empty" }, t("err.page")));
  }
}

// Shortcut keys click the visible, enabled button of the page that declares them.
function onKeyDown(event) {
  if (event.ctrlKey || event.metaKey || event.altKey || event.repeat) return;
  const target = event.target;
  if (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName)) return;
  const key = event.key.toUpperCase();
  const button = [...document.querySelectorAll("#view button[aria-keyshortcuts]")].find(
    (b) => b.getAttribute("aria-keyshortcuts") === key && !b.disabled && !b.closest("[hidden]"));
  if (button) {
    event.preventDefault();
    button.click();
  }
}

// ---------- login ----------

function pageLogin() {
  const input = h("input", { id: "token", type: "password", autocomplete: "current-password", required: true, autofocus: true });
  const error = h("p", { id: "login-error", class: "error-text", role: "alert", hidden: true });
  const button = h("button", { id: "login", type: "submit", class: "btn primary" }, t("login.submit"));
  async function submit(event) {
    event.preventDefault();
    error.hidden = true;
    button.disabled = true;
    const token = input.value.trim();
    try {
      const response = await fetch("/api/v1/me", { headers: { Authorization: `Bearer ${token}` } });
      const data = await response.json().catch(() => null);
      if (response.ok) {
        state.token = token;
        state.me = data;
        localStorage.setItem("tierlink.token", token);
        go(homeRoute());
        return;
      }
      error.textContent = response.status === 401 ? t("login.invalid") : (data && data.error) || `${response.status} ${response.statusText}`;
    } catch {
      error.textContent = t("err.network");
    }
    error.hidden = false;
    button.disabled = false;
  }
  return h("form", { class: "card login", onsubmit: submit },
    h("h1", {}, t("login.title")),
    h("p", { class: "muted" }, t("login.hint")),
    h("label", { for: "token" }, t("login.token")), input, button, error);
}

// ---------- review queue ----------

const byPriority = (a, b) => b.priority - a.priority || a.id - b.id;

async function pageReviewQueue() {
  const data = await api("/review?limit=50");
  const items = [...data.items].sort(byPriority);
  const open = (item) => go(`#/review/${item.id}`);
  return h("div", { id: "review-queue" },
    h("div", { class: "page-head" },
      h("h1", {}, t("review.title")),
      h("span", { id: "open-count", class: "badge count", title: t("review.open"), "aria-label": `${t("review.open")}: ${data.open}` }, fmtNum(data.open)),
      h("span", { class: "muted" }, t("review.showing", items.length, data.open))),
    dataTable([
      { label: t("col.id"), cell: (i) => h("a", { href: `#/review/${i.id}` }, `#${i.id}`) },
      { label: t("col.left"), cell: (i) => keyText(i.left) },
      { label: t("col.right"), cell: (i) => keyText(i.right) },
      { label: t("review.probability"), num: true, cell: (i) => probabilityMeter(i.probability) },
      { label: t("review.weight"), num: true, cell: (i) => Number(i.match_weight).toFixed(2) },
      { label: t("review.priority"), num: true, cell: (i) => Number(i.priority).toFixed(3) },
      { label: t("col.created"), cell: (i) => fmtDate(i.created_at) },
    ], items, {
      empty: t("review.empty"),
      rowProps: (i) => ({ class: "review-row clickable", "data-id": i.id, onclick: (e) => e.target.closest("a") || open(i) }),
    }));
}

function probabilityMeter(p) {
  return h("span", { class: "meter" },
    h("span", { class: "meter-track" }, h("span", { class: "meter-bar", style: { width: pct(p) } })), h("span", {}, pct(p)));
}

// ---------- review item ----------

async function nextOpen(currentId) {
  const data = await api("/review?limit=50");
  const items = data.items.filter((i) => i.id !== currentId).sort(byPriority);
  let next = items.find((i) => !state.skipped.has(i.id));
  if (!next && items.length) {
    state.skipped.clear();
    next = items[0];
  }
  if (next) go(`#/review/${next.id}`);
  else {
    flash(t("review.queueDone"), "info", "#/review");
    go("#/review");
  }
}

// Comparable form of a field value: lists as sorted sets, blanks alike.
function canonical(value) {
  if (value == null || value === "" || (Array.isArray(value) && !value.length)) return "null";
  return JSON.stringify(Array.isArray(value) ? value.map(String).sort() : value);
}

function compareTable(left, right) {
  const keysOf = (prop) => [...new Set([...Object.keys((left && left[prop]) || {}), ...Object.keys((right && right[prop]) || {})])].sort();
  const rows = [
    [t("field.name"), (p) => p.name],
    [t("field.kind"), (p) => (p.kind ? t(`kind.${p.kind}`) : null)],
    [t("field.phones"), (p) => p.phones],
    [t("field.emails"), (p) => p.emails],
    [t("field.company"), (p) => p.company],
    [t("field.address"), (p) => p.address],
    ...keysOf("strong_ids").map((k) => [`${t("field.strong_id")}: ${fieldLabel(k)}`, (p) => (p.strong_ids || {})[k]]),
    ...keysOf("attributes").map((k) => [fieldLabel(k), (p) => (p.attributes || {})[k]]),
  ];
  const head = (title, party) => h("th", { scope: "col" }, title,
    h("div", { class: "record-key" }, party ? keyText(party) : t("review.missing")),
    party && party.source_updated_at ? h("div", { class: "muted small" }, t("review.updated", fmtDate(party.source_updated_at))) : null);
  return h("table", { class: "grid compare" },
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, t("review.field")), head(t("review.left"), left), head(t("review.right"), right))),
    h("tbody", {}, rows.map(([label, get]) => {
      const a = left ? get(left) : null;
      const b = right ? get(right) : null;
      return h("tr", { class: canonical(a) === canonical(b) ? "same" : "diff" },
        h("th", { scope: "row" }, label), h("td", {}, valueNode(a)), h("td", {}, valueNode(b)));
    })));
}

function contributionBars(explanation) {
  if (!explanation.length) return h("p", { class: "empty" }, t("review.noExplanation"));
  const max = Math.max(1e-9, ...explanation.map((c) => Math.abs(c.weight)));
  return h("div", { class: "contribs" },
    h("div", { class: "contrib contrib-axis muted small", "aria-hidden": "true" },
      h("span", {}), h("span", {}), h("span", { class: "contrib-track" }, h("span", { class: "half neg" }, t("review.against")), h("span", { class: "half pos" }, t("review.for"))), h("span", {})),
    explanation.map((c) => {
      const bar = h("span", { class: `bar ${c.weight >= 0 ? "pos" : "neg"}`, style: { width: `${(Math.abs(c.weight) / max) * 100}%` } });
      return h("div", { class: "contrib", title: `${c.field}: ${c.level} (${signed(c.weight)})` },
        h("span", { class: "contrib-field" }, fieldLabel(c.field)),
        h("span", { class: `contrib-level${c.level === "missing" ? " muted" : ""}` }, c.level),
        h("span", { class: "contrib-track" }, h("span", { class: "half neg" }, c.weight < 0 ? bar : null), h("span", { class: "half pos" }, c.weight >= 0 ? bar : null)),
        h("span", { class: "contrib-weight num" }, signed(c.weight)));
    }));
}

async function pageReviewItem({ args }) {
  const id = Number(args[0]);
  const detail = await api(`/review/${id}`);
  const { item } = detail;
  const nextButton = () => shortcutButton("next", "N", t("review.next"), "btn primary", () => nextOpen(id));
  const reason = h("input", { id: "reason", type: "text", maxlength: 500, placeholder: t("review.reasonHint") });
  const outcome = h("div", { id: "outcome", class: "outcome", "aria-live": "polite", hidden: true });
  let panel;

  async function decide(action) {
    const buttons = panel.querySelectorAll("button");
    buttons.forEach((b) => (b.disabled = true));
    try {
      const result = await api(`/review/${id}/${action}`, { method: "POST", body: { reason: reason.value.trim() || null } });
      const after = await api(`/review/${id}`).catch(() => null);
      state.skipped.delete(id);
      panel.hidden = true;
      showOutcome(action, result, after);
    } catch (err) {
      buttons.forEach((b) => (b.disabled = false));
      if (!(err instanceof ApiError)) throw err;
    }
  }

  function showOutcome(action, result, after) {
    const decisionId = result.decision.id;
    const resolution = result.resolution || {};
    const changes = resolution.changes || {};
    const ids = (action === "accept" ? [after && after.left_golden_id] : [after && after.left_golden_id, after && after.right_golden_id]).filter(Boolean);
    const undo = shortcutButton("undo", "U", t("review.undo"), "btn", async () => {
      undo.disabled = true;
      try {
        await api(`/decisions/${decisionId}/undo`, { method: "POST", body: { reason: null } });
        flash(t("outcome.undone", decisionId), "info", location.hash);
        route();
      } catch (err) {
        undo.disabled = false;
        if (!(err instanceof ApiError)) throw err;
      }
    });
    const next = nextButton();
    outcome.className = `outcome ${action}`;
    outcome.replaceChildren(
      h("p", { class: "outcome-title" }, t(`outcome.${action}`, decisionId)),
      ids.length ? h("p", {}, t(action === "accept" ? "outcome.merged" : "outcome.separate"), " ",
        ids.flatMap((g, i) => (i ? [", ", customerLink(g)] : [customerLink(g)]))) : null,
      h("p", { class: "muted small" }, t("outcome.summary", resolution.parties ?? "—", resolution.golden_customers ?? "—",
        (changes.upserted || []).length, (changes.merged || []).length)),
      h("div", { class: "actions" }, undo, next));
    outcome.hidden = false;
    next.focus();
  }

  if (item.status !== "open") {
    panel = h("div", { class: "decision card" },
      h("p", {}, t("review.decided", statusLabel(item.status), fmtDate(item.decided_at), item.decision_id ?? "—")),
      h("div", { class: "actions" }, nextButton()));
  } else if (canDecide()) {
    panel = h("div", { class: "decision card" },
      h("label", { for: "reason" }, t("review.reason")), reason,
      h("div", { class: "actions" },
        shortcutButton("accept", "A", t("review.accept"), "btn good", () => decide("accept")),
        shortcutButton("reject", "R", t("review.reject"), "btn bad", () => decide("reject")),
        shortcutButton("skip", "S", t("review.skip"), "btn", () => {
          state.skipped.add(id);
          nextOpen(id);
        })));
  } else {
    panel = h("div", { class: "decision card" },
      h("p", { class: "muted" }, t("review.readOnly")),
      h("div", { class: "actions" }, shortcutButton("skip", "S", t("review.skip"), "btn", () => nextOpen(id))));
  }

  return h("div", { id: "review-detail", "data-id": id },
    h("div", { class: "page-head" },
      h("h1", {}, t("review.item", id)), statusBadge(item.status),
      h("a", { href: "#/review", class: "muted" }, t("review.back"))),
    h("div", { class: "review-layout" },
      section(`${keyText(item.left)} ↔ ${keyText(item.right)}`, compareTable(detail.left, detail.right)),
      h("div", { class: "review-side" },
        panel, outcome,
        section(t("review.score"),
          h("dl", { class: "stats" },
            h("dt", {}, t("review.probability")), h("dd", {}, pct(item.probability)),
            h("dt", {}, t("review.weight")), h("dd", {}, Number(item.match_weight).toFixed(2)),
            h("dt", {}, t("review.priority")), h("dd", {}, Number(item.priority).toFixed(3))),
          contributionBars(item.explanation || [])))));
}

// ---------- customers ----------

async function pageCustomers({ params }) {
  const q = params.get("q") || "";
  const tier = params.get("tier") || "";
  const query = new URLSearchParams({ limit: "50" });
  if (q) query.set("q", q);
  if (tier) query.set("tier", tier);
  const [, data] = await Promise.all([loadTiers(), api(`/customers?${query}`)]);
  const search = h("input", { id: "search", type: "search", value: q, autofocus: true, placeholder: t("customers.placeholder") });
  const select = h("select", { id: "tier-filter", onchange: submit },
    h("option", { value: "" }, t("customers.allTiers")),
    tierList().map((x) => h("option", { value: x.key, selected: x.key === tier }, tierName(x.key))));
  function submit() {
    const next = new URLSearchParams();
    if (search.value.trim()) next.set("q", search.value.trim());
    if (select.value) next.set("tier", select.value);
    go(`#/customers${[...next].length ? `?${next}` : ""}`);
  }
  const customers = data.customers || [];
  return h("div", { id: "customers" },
    h("div", { class: "page-head" }, h("h1", {}, t("customers.title"))),
    h("form", { class: "toolbar", role: "search", onsubmit: (e) => { e.preventDefault(); submit(); } },
      h("label", { for: "search" }, t("customers.search")), search,
      h("label", { for: "tier-filter" }, t("customers.tier")), select,
      h("button", { type: "submit", class: "btn primary" }, t("customers.go"))),
    h("p", { class: "muted small" }, t("customers.count", customers.length)),
    dataTable([
      { label: t("col.id"), cell: (c) => customerLink(c.golden_id) },
      { label: t("field.name"), cell: (c) => show(c.name) },
      { label: t("field.company"), cell: (c) => show(c.company) },
      { label: t("field.phones"), cell: (c) => show(c.phones) },
      { label: t("field.emails"), cell: (c) => show(c.emails) },
      { label: t("col.tier"), cell: (c) => tierChip(c.tier) },
      { label: t("col.records"), num: true, cell: (c) => fmtNum(c.records) },
    ], customers, {
      empty: t("customers.empty"),
      rowProps: (c) => ({ class: "customer-row clickable", "data-id": c.golden_id, onclick: (e) => e.target.closest("a") || go(`#/customers/${encodeURIComponent(c.golden_id)}`) }),
    }));
}

// ---------- customer 360 ----------

function evidenceText(evidence) {
  if (!evidence || typeof evidence !== "object") return show(evidence);
  const parts = [];
  if (evidence.shared_keys && evidence.shared_keys.length) parts.push(t("ev.shared", evidence.shared_keys.join(", ")));
  if (evidence.match) parts.push(t("ev.match", evidence.match.with, pct(evidence.match.probability), show(evidence.match.weight)));
  if (evidence.steward_decisions) parts.push(t("ev.decisions", evidence.steward_decisions.map((d) => `#${d}`).join(", ")));
  return parts.length ? parts.join(" · ") : "—";
}

function decisionDetail(decision) {
  const { action, ...rest } = decision;
  switch (action) {
    case "accept_match":
    case "reject_match":
      return `${keyText(rest.left)} ↔ ${keyText(rest.right)} (#${rest.review_id})`;
    case "merge":
      return rest.golden_ids.join(" + ");
    case "split":
      return `${rest.golden_id}: ${rest.leaving.map(keyText).join(", ")}`;
    case "set_field":
      return `${rest.golden_id}.${rest.field} = ${show(rest.value)}`;
    case "undo":
      return `#${rest.decision_id}`;
    default:
      return JSON.stringify(rest);
  }
}

function recordCard(record) {
  const p = record.party;
  const rows = [
    [t("field.kind"), p.kind ? t(`kind.${p.kind}`) : null],
    [t("field.phones"), p.phones],
    [t("field.emails"), p.emails],
    [t("field.company"), p.company],
    [t("field.address"), p.address],
    ...Object.entries(p.strong_ids || {}).map(([k, v]) => [`${t("field.strong_id")}: ${fieldLabel(k)}`, v]),
    ...Object.entries(p.attributes || {}).map(([k, v]) => [fieldLabel(k), v]),
    [t("customer.evidence"), evidenceText(record.evidence)],
  ];
  return h("article", { class: "record" },
    h("h3", {}, h("span", { class: "record-key" }, keyText(p)), " ", show(p.name),
      p.source_updated_at ? h("span", { class: "muted small" }, ` · ${t("review.updated", fmtDate(p.source_updated_at))}`) : null),
    h("dl", { class: "fields" }, rows.flatMap(([label, value]) => [h("dt", {}, label), h("dd", {}, valueNode(value))])),
    Object.entries(record.raw || {}).map(([stream, raw]) => details(t("customer.raw", stream), raw)));
}

const byDateDesc = (field) => (a, b) => String(b[field]).localeCompare(String(a[field]));

async function pageCustomer({ args }) {
  const [view] = await Promise.all([api(`/customers/${encodeURIComponent(args[0])}`), loadTiers()]);
  const fields = view.fields || {};
  const name = fields.name ? fields.name.value : null;
  const tier = view.tier;
  const paid = view.orders.filter((o) => o.status === "paid").reduce((sum, o) => sum + Number(o.amount), 0);
  const money = (o) => `${Number(o.amount).toFixed(2)}${o.currency ? ` ${o.currency}` : ""}`;
  return h("div", { id: "customer", "data-golden-id": view.golden_id },
    h("div", { class: "page-head" },
      h("h1", { id: "customer-name" }, show(name || view.golden_id)),
      h("span", { class: "muted record-key" }, view.golden_id),
      tierChip(tier ? tier.tier : null)),
    h("div", { class: "two-col" },
      section(t("customer.fields"), dataTable([
        { label: t("review.field"), cell: ([f]) => fieldLabel(f) },
        { label: t("col.value"), cell: ([f, v]) => valueNode(f === "kind" ? t(`kind.${v.value}`) : v.value) },
        { label: t("col.source"), cell: ([, v]) => (v.source ? keyText(v.source) : t("customer.pinned")) },
      ], Object.entries(fields))),
      h("section", { class: "card", id: "customer-tier" },
        h("h2", {}, t("customer.tier")),
        tier ? [
          h("p", {}, tierChip(tier.tier)),
          h("p", { class: "muted small" }, t("customer.assigned", tier.rule, tier.rules_version, fmtDate(tier.assigned_at))),
          tier.reason && typeof tier.reason === "object"
            ? dataTable([
              { label: t("col.feature"), cell: ([k]) => k },
              { label: t("col.value"), num: true, cell: ([, v]) => show(v) },
            ], Object.entries(tier.reason))
            : h("p", {}, show(tier.reason)),
        ] : h("p", { class: "empty" }, t("customer.noTier")))),
    section(t("customer.history"), dataTable([
      { label: t("col.date"), cell: (c) => fmtDate(c.assignment.assigned_at) },
      { label: t("col.from"), cell: (c) => (c.from_tier ? tierChip(c.from_tier) : t("tier.new")) },
      { label: t("col.to"), cell: (c) => tierChip(c.assignment.tier) },
      { label: t("col.rule"), cell: (c) => c.assignment.rule },
      { label: t("col.rulesVersion"), cell: (c) => c.assignment.rules_version },
    ], [...view.tier_history].sort((a, b) => String(b.assignment.assigned_at).localeCompare(String(a.assignment.assigned_at))))),
    section(t("customer.records", view.records.length), h("div", { class: "records" }, view.records.map(recordCard))),
    section(t("customer.orders", view.orders.length, paid.toFixed(2)), dataTable([
      { label: t("col.date"), cell: (o) => fmtDate(o.ordered_at) },
      { label: t("col.record"), cell: keyText },
      { label: t("col.amount"), num: true, cell: money },
      { label: t("col.status"), cell: (o) => o.status },
    ], [...view.orders].sort(byDateDesc("ordered_at")))),
    section(t("customer.tickets", view.tickets.length), dataTable([
      { label: t("col.created"), cell: (x) => fmtDate(x.created_at) },
      { label: t("col.record"), cell: keyText },
      { label: t("col.channel"), cell: (x) => show(x.channel) },
      { label: t("col.status"), cell: (x) => x.status },
      { label: t("col.solved"), cell: (x) => fmtDate(x.solved_at) },
      { label: t("col.satisfaction"), cell: (x) => show(x.satisfaction) },
    ], [...view.tickets].sort(byDateDesc("created_at")))),
    section(t("customer.calls", view.calls.length), dataTable([
      { label: t("col.date"), cell: (x) => fmtDate(x.started_at) },
      { label: t("col.record"), cell: keyText },
      { label: t("col.direction"), cell: (x) => show(x.direction) },
      { label: t("col.numbers"), cell: (x) => `${show(x.caller)} → ${show(x.callee)}` },
      { label: t("col.talk"), num: true, cell: (x) => fmtSeconds(x.talk_seconds) },
      { label: t("col.disposition"), cell: (x) => show(x.disposition) },
    ], [...view.calls].sort(byDateDesc("started_at")))),
    section(t("customer.messages", view.messages.length), dataTable([
      { label: t("col.date"), cell: (x) => fmtDate(x.sent_at) },
      { label: t("col.record"), cell: keyText },
      { label: t("col.channel"), cell: (x) => x.channel },
      { label: t("col.party"), cell: (x) => show(x.party_source_id || x.phone) },
    ], [...view.messages].sort(byDateDesc("sent_at")))),
    h("div", { class: "two-col" },
      section(t("customer.lineage"), dataTable([
        { label: t("col.newId"), cell: (x) => x.new_id },
        { label: t("col.oldId"), cell: (x) => x.old_id },
        { label: t("col.reason"), cell: (x) => x.reason },
      ], view.id_lineage)),
      section(t("customer.decisions"), dataTable([
        { label: t("col.id"), cell: (d) => `#${d.id}` },
        { label: t("col.action"), cell: (d) => d.decision.action },
        { label: t("col.detail"), cell: (d) => decisionDetail(d.decision) },
        { label: t("col.actor"), cell: (d) => d.actor },
        { label: t("col.reason"), cell: (d) => show(d.reason) },
        { label: t("col.date"), cell: (d) => fmtDate(d.created_at) },
      ], view.decisions))));
}

// ---------- dashboard charts (inline SVG) ----------

const CHART_WIDTH = 600;

function chart(id, height, label, ...children) {
  return s("svg", { id, class: "chart", viewBox: `0 0 ${CHART_WIDTH} ${height}`, role: "img", "aria-label": label }, ...children);
}

function legend(keys) {
  return h("ul", { class: "legend" }, keys.map((key) => h("li", {}, h("span", { class: "swatch", style: { background: tierColour(key) } }), tierName(key))));
}

function distributionChart(data) {
  const rows = data.tiers.map((tier) => ({ key: tier.key, count: tier.count }));
  const tiered = rows.reduce((sum, r) => sum + r.count, 0);
  const all = Number(data.total) || 0;
  if (all > tiered) rows.push({ key: null, count: all - tiered });
  const total = Math.max(all, tiered, 1);
  const max = Math.max(1, ...rows.map((r) => r.count));
  const labelW = 150;
  const barMax = CHART_WIDTH - labelW - 140;
  const rowH = 30;
  return chart("chart-distribution", rows.length * rowH + 10, t("dashboard.distribution"),
    rows.map((r, i) => {
      const y = 5 + i * rowH;
      const w = (r.count / max) * barMax;
      const name = r.key == null ? t("tier.untiered") : tierName(r.key);
      return s("g", {},
        s("title", {}, `${name}: ${fmtNum(r.count)} (${pct(r.count / total)})`),
        s("text", { x: labelW - 8, y: y + 18, "text-anchor": "end", class: "label" }, name),
        s("rect", { x: labelW, y: y + 4, width: Math.max(w, 1), height: rowH - 10, rx: 3, fill: tierColour(r.key) }),
        s("text", { x: labelW + w + 8, y: y + 18, class: "value" }, `${fmtNum(r.count)} · ${pct(r.count / total)}`));
    }));
}

function migrationChart(moves) {
  const froms = [null, ...tierKeys(moves.map((m) => m.from))];
  const tos = tierKeys(moves.map((m) => m.to));
  const count = (from, to) => moves.filter((m) => (m.from ?? null) === from && m.to === to).reduce((sum, m) => sum + m.count, 0);
  const max = Math.max(1, ...moves.map((m) => m.count));
  const labelW = 130;
  const cellW = (CHART_WIDTH - labelW) / Math.max(tos.length, 1);
  const cellH = 30;
  const top = 36;
  const fromName = (key) => (key == null ? t("tier.new") : tierName(key));
  return chart("chart-migration", top + froms.length * cellH + 4, t("dashboard.migrationAxis"),
    s("text", { x: labelW - 8, y: 22, "text-anchor": "end", class: "axis" }, t("dashboard.migrationAxis")),
    tos.map((to, j) => s("text", { x: labelW + j * cellW + cellW / 2, y: 22, "text-anchor": "middle", class: "label" }, tierName(to))),
    froms.map((from, i) => {
      const y = top + i * cellH;
      return s("g", {},
        s("text", { x: labelW - 8, y: y + 19, "text-anchor": "end", class: "label" }, fromName(from)),
        tos.map((to, j) => {
          const n = count(from, to);
          const x = labelW + j * cellW;
          return s("g", {},
            s("title", {}, `${fromName(from)} → ${tierName(to)}: ${fmtNum(n)}`),
            s("rect", { x: x + 1, y: y + 1, width: cellW - 2, height: cellH - 2, rx: 2, fill: n ? tierColour(to) : "#f3f4f6", "fill-opacity": n ? 0.15 + 0.85 * (n / max) : 1 }),
            s("text", { x: x + cellW / 2, y: y + 19, "text-anchor": "middle", class: n / max > 0.55 ? "cell strong" : "cell" }, n ? fmtNum(n) : "·"));
        }));
    }));
}

// The smallest 1, 2 or 5 times a power of ten at or above n (at least 1).
function niceCeil(n) {
  const power = 10 ** Math.floor(Math.log10(Math.max(n, 1)));
  return [1, 2, 5, 10].map((m) => m * power).find((v) => v >= n) || 1;
}

function historyChart(days) {
  const byDate = new Map(days.map((d) => [d.date, d.changes || {}]));
  const dates = [...byDate.keys()].sort();
  const series = [];
  if (dates.length) {
    for (let d = new Date(`${dates[0]}T00:00:00Z`); isoDay(d) <= dates[dates.length - 1]; d = new Date(d.getTime() + 864e5)) {
      series.push({ date: isoDay(d), changes: byDate.get(isoDay(d)) || {} });
    }
  }
  const keys = tierKeys(days.flatMap((d) => Object.keys(d.changes || {})));
  const totals = series.map((d) => keys.reduce((sum, k) => sum + (d.changes[k] || 0), 0));
  const max = niceCeil(Math.max(...totals));
  const [left, right, top, bottom, height] = [44, 8, 10, 24, 220];
  const plotW = CHART_WIDTH - left - right;
  const plotH = height - top - bottom;
  const step = plotW / Math.max(series.length, 1);
  const labelEvery = Math.max(1, Math.ceil(series.length / 8));
  return chart("chart-history", height, t("dashboard.history"),
    [0, 0.5, 1].map((f) => {
      const y = top + plotH * (1 - f);
      return s("g", {},
        s("line", { x1: left, x2: CHART_WIDTH - right, y1: y, y2: y, class: "gridline" }),
        s("text", { x: left - 6, y: y + 4, "text-anchor": "end", class: "axis" }, fmtNum(max * f)));
    }),
    series.map((d, i) => {
      let y = top + plotH;
      const x = left + i * step;
      const parts = keys.filter((k) => d.changes[k]).map((k) => {
        const hgt = (d.changes[k] / max) * plotH;
        y -= hgt;
        return s("rect", { x: x + step * 0.1, y, width: Math.max(step * 0.8, 1), height: hgt, fill: tierColour(k) });
      });
      return s("g", {},
        s("title", {}, `${d.date}: ${keys.filter((k) => d.changes[k]).map((k) => `${tierName(k)} ${d.changes[k]}`).join(", ") || 0}`),
        s("rect", { x, y: top, width: step, height: plotH, fill: "transparent" }),
        parts,
        i % labelEvery === 0 ? s("text", { x: x + step / 2, y: height - 6, "text-anchor": "middle", class: "axis" }, d.date.slice(5)) : null);
    }));
}

function bySourceChart(bySource) {
  const sources = Object.keys(bySource).sort();
  const keys = tierKeys(sources.flatMap((c) => Object.keys(bySource[c])));
  const [labelW, rowH] = [130, 30];
  const barW = CHART_WIDTH - labelW - 70;
  return chart("chart-by-source", Math.max(sources.length, 1) * rowH + 10, t("dashboard.bySource"),
    sources.map((connector, i) => {
      const counts = bySource[connector];
      const total = keys.reduce((sum, k) => sum + (counts[k] || 0), 0) || 1;
      const y = 5 + i * rowH;
      let x = labelW;
      return s("g", {},
        s("text", { x: labelW - 8, y: y + 18, "text-anchor": "end", class: "label" }, connector),
        keys.filter((k) => counts[k]).map((k) => {
          const w = (counts[k] / total) * barW;
          const seg = s("g", {},
            s("title", {}, `${connector} · ${tierName(k)}: ${fmtNum(counts[k])} (${pct(counts[k] / total)})`),
            s("rect", { x, y: y + 4, width: w, height: rowH - 10, fill: tierColour(k) }),
            w > 36 ? s("text", { x: x + w / 2, y: y + 18, "text-anchor": "middle", class: "inbar" }, fmtNum(counts[k])) : null);
          x += w;
          return seg;
        }),
        s("text", { x: labelW + barW + 8, y: y + 18, class: "value" }, fmtNum(total)));
    }));
}

async function pageDashboard({ params }) {
  const days = PERIODS.includes(Number(params.get("days"))) ? Number(params.get("days")) : 90;
  const since = isoDay(new Date(Date.now() - days * 864e5));
  const [tiers, migration, history] = await Promise.all([
    api("/tiers"), api(`/tiers/migration?since=${since}`), api(`/tiers/history?days=${days}`)]);
  state.tiers = tiers;
  const period = h("select", { id: "period", onchange: (e) => go(`#/dashboard?days=${e.target.value}`) },
    PERIODS.map((d) => h("option", { value: d, selected: d === days }, t("dashboard.days", d))));
  const keys = tierKeys();
  return h("div", { id: "dashboard" },
    h("div", { class: "page-head" },
      h("h1", {}, t("dashboard.title")),
      h("span", { id: "rules-version", class: "muted" }, t("dashboard.rules", tiers.rules_version, fmtNum(tiers.total))),
      h("span", { class: "spacer" }),
      h("label", { for: "period" }, t("dashboard.period")), period),
    h("div", { class: "two-col" },
      section(t("dashboard.distribution"), distributionChart(tiers)),
      section(t("dashboard.bySource"), bySourceChart(tiers.by_source || {}), legend(keys))),
    h("div", { class: "two-col" },
      section(t("dashboard.migration", migration.since, migration.until),
        migrationChart(migration.moves || []),
        migration.moves && migration.moves.length ? null : h("p", { class: "empty" }, t("dashboard.noMoves"))),
      section(t("dashboard.history"), historyChart(history.days || []), legend(keys))),
    section(t("dashboard.tiers"), h("div", { class: "tier-cards" }, tiers.tiers.map((tier) =>
      h("article", { class: "tier-card", style: { "--tier": tierColour(tier.key) }, "data-tier": tier.key },
        h("h3", {}, tierName(tier.key), " ", h("span", { class: "muted small" }, tier.key)),
        h("p", { class: "tier-count" }, fmtNum(tier.count), h("span", { class: "muted small" }, ` · ${pct(tier.count / Math.max(tiers.total, 1))}`)),
        h("h4", {}, t("dashboard.goal")), h("p", {}, tier.goal),
        h("h4", {}, t("dashboard.actions")), h("ul", {}, (tier.actions || []).map((a) => h("li", {}, a))))))));
}

// ---------- connectors ----------

async function post(button, path, body, message) {
  button.disabled = true;
  try {
    await api(path, { method: "POST", body });
    flash(message, "info", location.hash);
    route();
  } catch (err) {
    button.disabled = false;
    if (!(err instanceof ApiError)) throw err;
  }
}

async function pageConnectors() {
  const [connectors, jobs, runs] = await Promise.all([api("/connectors"), api("/jobs"), api("/runs?limit=20")]);
  const admin = isAdmin();
  const runButton = (kind) => h("button", { type: "button", class: "btn", "data-run": kind,
    onclick: (e) => post(e.currentTarget, "/runs", { kind }, t("runs.startedMsg", kind)) }, t(`runs.${kind}`));
  return h("div", { id: "connectors" },
    h("div", { class: "page-head" },
      h("h1", {}, t("connectors.title")), h("span", { class: "spacer" }),
      h("button", { type: "button", class: "btn ghost", onclick: () => route() }, t("refresh"))),
    section(t("connectors.title"), dataTable([
      { label: t("col.id"), cell: (c) => h("strong", {}, c.id) },
      { label: t("connectors.type"), cell: (c) => c.type },
      { label: t("connectors.description"), cell: (c) => show(c.description) },
      { label: t("connectors.streams"), cell: (c) => show(c.streams) },
      { label: t("connectors.schedule"), cell: (c) => show(c.schedule) },
      { label: t("connectors.sink"), cell: (c) => show(c.sink) },
      { label: t("connectors.staged"), num: true, cell: (c) => fmtNum(c.counts.staged) },
      { label: t("connectors.parties"), num: true, cell: (c) => fmtNum(c.counts.parties) },
      { label: t("connectors.orders"), num: true, cell: (c) => fmtNum(c.counts.orders) },
      { label: t("connectors.rejected"), num: true, cell: (c) => h("span", { class: c.counts.rejected ? "warn" : null }, fmtNum(c.counts.rejected)) },
      ...(admin ? [{ label: "", cell: (c) => h("button", { type: "button", class: "btn small", "data-sync": c.id,
        onclick: (e) => post(e.currentTarget, `/connectors/${encodeURIComponent(c.id)}/sync`, undefined, t("connectors.syncStarted", c.id)) }, t("connectors.sync")) }] : []),
    ], connectors, { rowProps: (c) => ({ class: "connector-row", "data-id": c.id }) })),
    section(t("jobs.title"),
      admin ? h("div", { class: "actions" }, ["full", "incremental", "push"].map(runButton)) : null,
      dataTable([
        { label: t("jobs.name"), cell: (j) => j.name },
        { label: t("connectors.schedule"), cell: (j) => show(j.schedule) },
        { label: t("jobs.next"), cell: (j) => fmtDate(j.next_run) },
        { label: t("jobs.running"), cell: (j) => h("span", { class: `badge ${j.running ? "status-running" : ""}` }, j.running ? t("jobs.running") : t("jobs.idle")) },
      ], jobs)),
    section(t("runs.title"), dataTable([
      { label: t("col.id"), cell: (r) => `#${r.id}` },
      { label: t("runs.kind"), cell: (r) => r.kind },
      { label: t("col.status"), cell: (r) => statusBadge(r.status) },
      { label: t("runs.started"), cell: (r) => fmtDate(r.started_at) },
      { label: t("runs.finished"), cell: (r) => fmtDate(r.finished_at) },
      { label: t("runs.summary"), cell: (r) => (r.summary == null ? "—" : details(show(r.summary).slice(0, 80), r.summary)) },
    ], runs)));
}

// ---------- push ----------

async function pagePush() {
  const [ledger, letters] = await Promise.all([api("/push"), api("/push/dead-letters?limit=50")]);
  const open = letters.filter((l) => !l.resolved_at && !l.dropped_at);
  const rows = (status) => (p) => fmtNum((p.rows || {})[status]);
  return h("div", { id: "push" },
    h("div", { class: "page-head" }, h("h1", {}, t("push.title"))),
    section(t("push.ledger"), dataTable([
      { label: t("push.system"), cell: (p) => h("strong", {}, p.connector) },
      ...["pending", "delivered", "failed", "dropped"].map((status) => ({ label: t(`push.${status}`), num: true, cell: rows(status) })),
      { label: t("push.openLetters"), num: true, cell: (p) => h("span", { class: p.open_dead_letters ? "warn" : null }, fmtNum(p.open_dead_letters)) },
    ], ledger, { rowProps: (p) => ({ class: "push-row", "data-connector": p.connector }) })),
    section(t("push.letters", open.length), dataTable([
      { label: t("col.id"), cell: (d) => `#${d.id}` },
      { label: t("col.record"), cell: (d) => keyText(d.letter) },
      { label: t("push.label"), cell: (d) => show(d.letter.label) },
      { label: t("col.reason"), cell: (d) => h("span", { class: "reason" }, d.letter.reason) },
      { label: t("push.attempts"), num: true, cell: (d) => fmtNum(d.letter.attempts) },
      { label: t("col.created"), cell: (d) => fmtDate(d.created_at) },
      { label: t("push.updated"), cell: (d) => fmtDate(d.updated_at) },
      { label: t("push.request"), cell: (d) => details(t("push.request"), { request: d.letter.request, response: d.letter.response }) },
    ], open, { empty: t("push.noLetters"), rowProps: (d) => ({ class: "dead-letter", "data-id": d.id }) })));
}

// ---------- start ----------

async function start() {
  $("#lang").addEventListener("click", () => {
    state.lang = state.lang === "zh" ? "en" : "zh";
    localStorage.setItem("tierlink.lang", state.lang);
    route();
  });
  $("#logout").addEventListener("click", signOut);
  document.addEventListener("keydown", onKeyDown);
  window.addEventListener("hashchange", route);
  if (state.token) {
    try {
      state.me = await api("/me");
    } catch {
      // api() has shown why; without a user the router shows the login page.
    }
  }
  route();
}

start();
