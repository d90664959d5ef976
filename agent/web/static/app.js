// tezgah status page. Builds the DOM from the JSON snapshots the agent
// pushes over server-sent events; every value goes in as text, never as
// markup. No libraries, nothing from the internet.
"use strict";

const T = {
  en: {
    connecting: "connecting…", live: "live", offline: "disconnected — retrying",
    version: "version", uptime: "up", agent_id: "agent",
    terminals: "Terminals", terminal: "Terminal", provider: "Provider", model: "Model", state: "State",
    queue: "Queue", last_result: "Last result", providers: "Provider connectivity",
    last_success: "Last success", last_error: "Last error", backoff: "Backoff",
    unknown_title: "Outcome unknown — being reconciled",
    unknown_hint: "These may have reached the provider. The agent asks the provider what happened and never sends them blindly again.",
    queued_title: "Waiting to be sent", recent_title: "Latest transactions",
    id: "ID", op: "Operation", amount: "Amount", attempts: "Attempts", reason: "Reason", next_try: "Next try",
    time: "Time", status: "Status", detail: "Detail",
    pending: "Pending", unknown_count: "Unknown outcome", oldest: "Oldest waiting", registers: "Terminals",
    none: "none", never: "never", reconcile: "Reconcile now", cancel: "Cancel",
    confirm_cancel: "Cancel request {id}? It has not reached the provider; the register will get \"cancelled\".",
    done: "Done: {id}", paused_until: "paused until {t}", next_retry: "next try {t}", failures: "{n} failed in a row",
    st: { idle: "idle", queued: "queued", sending: "sending", retrying: "retrying", reconciling: "reconciling",
      paused: "paused", ok: "ok", failing: "failing", unknown: "unknown", approved: "approved",
      declined: "declined", failed: "failed", expired: "expired", cancelled: "cancelled" },
    ops: { sale: "sale", refund: "refund", void: "void", end_of_day: "end of day" },
    cash_registers: "Cash registers connected", register: "Register", address: "Address", via: "Via",
    since: "Since", last_command: "Last command", refused_title: "Refused in the last hour",
  },
  tr: {
    connecting: "bağlanıyor…", live: "canlı", offline: "bağlantı yok — yeniden deneniyor",
    version: "sürüm", uptime: "çalışma süresi", agent_id: "ajan",
    terminals: "Terminaller", terminal: "Terminal", provider: "Sağlayıcı", model: "Model", state: "Durum",
    queue: "Kuyruk", last_result: "Son sonuç", providers: "Sağlayıcı bağlantısı",
    last_success: "Son başarılı", last_error: "Son hata", backoff: "Bekleme",
    unknown_title: "Sonucu belirsiz — mutabakat yapılıyor",
    unknown_hint: "Bunlar sağlayıcıya ulaşmış olabilir. Ajan ne olduğunu sağlayıcıya sorar; körü körüne yeniden göndermez.",
    queued_title: "Gönderilmeyi bekleyenler", recent_title: "Son işlemler",
    id: "No", op: "İşlem", amount: "Tutar", attempts: "Deneme", reason: "Neden", next_try: "Sonraki deneme",
    time: "Zaman", status: "Sonuç", detail: "Ayrıntı",
    pending: "Bekleyen", unknown_count: "Sonucu belirsiz", oldest: "En eski bekleyen", registers: "Terminaller",
    none: "yok", never: "hiç", reconcile: "Şimdi sorgula", cancel: "İptal et",
    confirm_cancel: "{id} numaralı istek iptal edilsin mi? Sağlayıcıya ulaşmadı; kasa \"cancelled\" alacak.",
    done: "Tamam: {id}", paused_until: "{t} saatine kadar duraklatıldı", next_retry: "sonraki deneme {t}", failures: "art arda {n} hata",
    st: { idle: "boşta", queued: "sırada", sending: "gönderiliyor", retrying: "yeniden denenecek", reconciling: "sorgulanıyor",
      paused: "duraklatıldı", ok: "iyi", failing: "hata veriyor", unknown: "belirsiz", approved: "onaylandı",
      declined: "reddedildi", failed: "başarısız", expired: "süresi doldu", cancelled: "iptal edildi" },
    ops: { sale: "satış", refund: "iade", void: "iptal", end_of_day: "gün sonu" },
    cash_registers: "Bağlı kasalar", register: "Kasa", address: "Adres", via: "Bağlantı",
    since: "Bağlandığı an", last_command: "Son komut", refused_title: "Son bir saatte reddedilenler",
  },
};

let lang = pickLang();
let last = null;       // the latest snapshot
let canAct = false;    // this browser is on the agent's machine
const token = new URLSearchParams(location.search).get("token");

function pickLang() {
  const saved = localStorage.getItem("tezgah.lang");
  if (saved && T[saved]) return saved;
  const prefs = navigator.languages || [navigator.language || "en"];
  for (const p of prefs) {
    const l = String(p).slice(0, 2).toLowerCase();
    if (T[l]) return l;
  }
  return "en";
}

function t(key, vars) {
  let s = T[lang][key] ?? T.en[key] ?? key;
  for (const [k, v] of Object.entries(vars || {})) s = s.replace("{" + k + "}", v);
  return s;
}
const stateName = (s) => T[lang].st[s] || s;
const opName = (o) => T[lang].ops[o] || o;

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k === "on") e.addEventListener("click", v);
    else e.setAttribute(k, v);
  }
  for (const k of kids) if (k != null) e.append(k instanceof Node ? k : String(k));
  return e;
}
const pill = (s) => el("span", { class: "pill " + s, "data-state": s }, stateName(s));

function when(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return d.toLocaleString(lang === "tr" ? "tr-TR" : "en-GB", { dateStyle: "short", timeStyle: "medium" });
}
function clock(iso) {
  if (!iso) return "";
  return new Date(iso).toLocaleTimeString(lang === "tr" ? "tr-TR" : "en-GB");
}
function duration(s) {
  s = Math.max(0, Math.floor(s));
  const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${m}m`;
  if (m) return `${m}m ${s % 60}s`;
  return `${s}s`;
}
function amount(r) {
  if (!r.amount) return "";
  const n = Number(r.amount);
  // The agent sends exact decimals; formatting for display only.
  const txt = Number.isFinite(n) ? n.toLocaleString(lang === "tr" ? "tr-TR" : "en-GB",
    { minimumFractionDigits: r.amount.split(".")[1]?.length || 0 }) : r.amount;
  return `${txt} ${r.currency || ""}`.trim();
}

function fill(id, rows, cols) {
  const body = document.querySelector(`#${id} tbody`);
  body.replaceChildren();
  if (!rows.length) {
    body.append(el("tr", {}, el("td", { class: "empty", colspan: String(cols) }, t("none"))));
    return;
  }
  for (const r of rows) body.append(r);
}

function act(kind, id) {
  if (kind === "cancel" && !confirm(t("confirm_cancel", { id }))) return;
  fetch("/api/" + kind, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ id }),
  }).then((r) => r.json()).then((res) => {
    notice(res.ok ? t("done", { id }) : (res.message || res.error));
  }).catch((e) => notice(String(e)));
}

function notice(msg) {
  const n = document.getElementById("notice");
  n.textContent = msg;
  n.classList.add("show");
  clearTimeout(notice.timer);
  notice.timer = setTimeout(() => n.classList.remove("show"), 4000);
}

function render() {
  document.documentElement.lang = lang;
  for (const b of document.querySelectorAll("[data-lang]")) b.classList.toggle("on", b.dataset.lang === lang);
  for (const e of document.querySelectorAll("[data-i18n]")) e.textContent = t(e.dataset.i18n);
  const s = last;
  if (!s) return;

  document.getElementById("agent").textContent =
    `${t("version")} ${s.version} · ${t("uptime")} ${duration(s.uptime_s)}` + (s.agent_id ? ` · ${t("agent_id")} ${s.agent_id}` : "");

  const card = (k, v, id) => el("div", { class: "card", id }, el("div", { class: "k" }, k), el("div", { class: "v" }, v));
  document.getElementById("summary").replaceChildren(
    card(t("registers"), s.terminals.length, "sum-terminals"),
    card(t("pending"), s.outbox.pending, "sum-pending"),
    card(t("unknown_count"), s.outbox.unknown, "sum-unknown"),
    card(t("oldest"), s.outbox.pending ? duration(s.outbox.oldest_age_s) : "—", "sum-oldest"),
  );

  fill("terminals", s.terminals.map((x) => {
    const lr = x.last_result;
    return el("tr", { "data-terminal": x.name },
      el("td", {}, x.name), el("td", {}, x.provider), el("td", {}, x.model || ""),
      el("td", {}, pill(x.state)),
      el("td", { class: "num" }, x.queue + (x.unknown ? ` (${x.unknown} ?)` : "")),
      el("td", { class: "last-result" }, lr ? el("span", {}, pill(lr.state), " ", amount(lr), " ",
        el("span", { class: "muted" }, `${lr.id} · ${clock(lr.updated)}`)) : el("span", { class: "muted" }, t("never"))));
  }), 6);

  fill("providers", s.providers.map((p) => el("tr", { "data-provider": p.name },
    el("td", {}, p.name), el("td", {}, pill(p.state)),
    el("td", {}, p.last_success ? when(p.last_success) : el("span", { class: "muted" }, t("never"))),
    el("td", {}, p.last_error ? `${when(p.last_error_at)} — ${p.last_error}` : ""),
    el("td", {}, [
      p.paused_until ? t("paused_until", { t: clock(p.paused_until) }) : "",
      p.failures ? t("failures", { n: p.failures }) : "",
      p.next_retry ? t("next_retry", { t: clock(p.next_retry) }) : "",
    ].filter(Boolean).join(" · ")))), 5);

  const regs = s.registers || { connected: [], refused: [] };
  fill("registers", regs.connected.map((r) => el("tr", { "data-register": r.register },
    el("td", {}, r.register), el("td", {}, r.remote), el("td", {}, r.transport), el("td", {}, when(r.since)),
    el("td", {}, r.last_command ? `${r.last_command.type} ${r.last_command.id || ""} · ${clock(r.last_command.at)}`.replace("  ", " ")
      : el("span", { class: "muted" }, t("never"))))), 5);
  fill("refused", regs.refused.map((r) => el("tr", { "data-code": r.code },
    el("td", {}, when(r.at)), el("td", {}, r.remote), el("td", {}, r.register || ""), el("td", {}, r.code))), 4);

  const button = (kind, id) => canAct ? el("button", { class: "act", type: "button", "data-action": kind, "data-id": id, on: () => act(kind, id) }, t(kind)) : "";
  fill("unknown", s.unknown.map((r) => el("tr", { "data-id": r.id },
    el("td", {}, r.id), el("td", {}, r.terminal), el("td", {}, opName(r.op)), el("td", { class: "num" }, amount(r)),
    el("td", { class: "num" }, r.attempts), el("td", {}, r.reason || ""), el("td", {}, clock(r.next_at)),
    el("td", {}, button("reconcile", r.id)))), 8);

  fill("queued", s.queued.map((r) => el("tr", { "data-id": r.id },
    el("td", {}, r.id), el("td", {}, r.terminal), el("td", {}, opName(r.op)), el("td", { class: "num" }, amount(r)),
    el("td", {}, pill(r.state)), el("td", { class: "num" }, r.attempts), el("td", {}, r.reason || ""),
    el("td", {}, r.cancellable ? button("cancel", r.id) : (r.next_at && r.state === "queued" ? button("reconcile", r.id) : "")))), 8);

  fill("recent", s.recent.map((r) => el("tr", { "data-id": r.id, "data-state": r.state },
    el("td", {}, when(r.updated)), el("td", {}, r.id), el("td", {}, r.terminal), el("td", {}, opName(r.op)),
    el("td", { class: "num" }, amount(r)), el("td", {}, pill(r.state)),
    el("td", { class: "muted" }, [r.code, r.message].filter(Boolean).join(": ")))), 7);
}

function connect() {
  const live = document.getElementById("live");
  const es = new EventSource("/events" + (token ? "?token=" + encodeURIComponent(token) : ""));
  es.addEventListener("hello", (e) => { canAct = !!JSON.parse(e.data).actions; });
  es.addEventListener("snapshot", (e) => {
    last = JSON.parse(e.data);
    live.className = "pill ok";
    live.dataset.i18n = "live";
    render();
  });
  es.onerror = () => {
    // EventSource reconnects by itself (the server sets retry: 2s).
    live.className = "pill off";
    live.dataset.i18n = "offline";
    live.textContent = t("offline");
  };
}

document.addEventListener("DOMContentLoaded", () => {
  for (const b of document.querySelectorAll("[data-lang]")) {
    b.addEventListener("click", () => { lang = b.dataset.lang; localStorage.setItem("tezgah.lang", lang); render(); });
  }
  render();
  connect();
});
