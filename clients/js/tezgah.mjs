// tezgah: the cash register's client for the tezgah payment agent
// (protocol v1, docs/protocol.md), one ES module for Node 20+ (with the
// `ws` package) and browsers (the built-in WebSocket).
//
// The money rules it keeps for the register, in the order they appear below:
//  1. `hello` first on every connection, with the register's name.
//  2. Every storing command not yet `accepted` is kept with its exact body
//     and sent again, same id and body, after a reconnect; a replay answer
//     counts as accepted.
//  3. The resume cursor is the highest `seq` of events without
//     `"replay":true`, saved atomically (temp file, fsync, rename) to the
//     cursor file; `resume` after hello.
//  4. After resume, `query` every awaited id (covers a lost cursor file).
//  5. A result reaches onResult once per id.
//  6. `busy` / `rate_limited` are not errors for the caller: wait, send the
//     same command again, within the call's own timeout.

export const DEFAULT_URL = 'ws://127.0.0.1:8417/v1/ws';
export const STATUSES = ['approved', 'declined', 'failed', 'expired', 'cancelled'];
export const STATES = ['queued', 'sending', 'waiting', 'unknown'];
/** Error codes meaning "nothing was stored, send the same command again" → default delay (ms). */
export const RETRY_CODES = { busy: 1000, rate_limited: 1000, unavailable: 1000, shutting_down: 1000 };
const STORING = ['sale', 'refund', 'void', 'end_of_day', 'partial_start', 'partial_add', 'partial_complete'];
const REGISTER_RE = /^[A-Za-z0-9._-]{1,64}$/;
const ID_RE = /^[A-Za-z0-9._:/-]{1,64}$/;
const B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
// Browsers and Node 19+ have crypto global; Node 18 (Debian 12's nodejs) has it in node:crypto.
const webcrypto = globalThis.crypto ?? (await import('node:crypto')).webcrypto;

/** The agent refused a command (nothing stored), or the call gave up (`timeout`, `closed`). */
export class TezgahError extends Error {
  constructor(code, message = '', { field, retryAfterMs, id } = {}) {
    super(`${code}: ${message}${field ? ` (field ${field})` : ''}`);
    this.name = 'TezgahError';
    this.code = code;
    this.field = field;
    this.retryAfterMs = retryAfterMs;
    this.id = id;
    this.detail = message;
  }
}

function errorInfo(e) {
  if (!e) return undefined;
  return { code: e.code, message: e.message ?? '', field: e.field, retryAfterMs: e.retry_after_ms };
}

function payment(p) {
  if (!p) return undefined;
  return {
    provider: p.provider, paymentId: p.payment_id, paymentDate: p.payment_date, authCode: p.auth_code,
    hostReference: p.host_reference, amount: p.amount, currency: p.currency, cardType: p.card_type,
    maskedPan: p.masked_pan, batchNo: p.batch_no, detail: p.detail,
  };
}

function result(ev) {
  return {
    id: ev.id, status: ev.status, payment: payment(ev.payment), error: errorInfo(ev.error),
    replay: !!ev.replay, seq: ev.seq, register: ev.register, raw: ev,
    get approved() { return this.status === 'approved'; },
  };
}

function stateEvent(ev) {
  return {
    id: ev.id, state: ev.state ?? ev.type, attempt: ev.attempt, reason: ev.reason, actionUrl: ev.action_url,
    nextAttemptAt: ev.next_attempt_at, replay: !!ev.replay, seq: ev.seq, register: ev.register, raw: ev,
  };
}

/** An amount as the protocol's decimal string: a string as is, a bigint as minor units (2 digits). */
export function amountText(amount) {
  if (typeof amount === 'string') return amount;
  if (typeof amount === 'bigint') {
    if (amount <= 0n) throw new RangeError('amount must be > 0');
    const s = amount.toString().padStart(3, '0');
    return `${s.slice(0, -2)}.${s.slice(-2)}`;
  }
  throw new TypeError('amount must be a decimal string or a bigint of minor units, never a number');
}

// A callback that throws must not stop the library: the event would come
// again with the resume, throw again, and the register would never get past it.
function callBack(fn, ...args) {
  try { fn?.(...args); } catch (e) { console.error('tezgah: callback threw', e); }
}

const sleep = (ms, signal) => new Promise((resolve) => {
  const wake = () => { clearTimeout(t); signal.removeEventListener('abort', wake); resolve(); };
  const t = setTimeout(wake, ms);
  signal.addEventListener('abort', wake, { once: true });
});

/** A register's connection to the agent; reconnects by itself. */
export class Client {
  #opts; #WS; #nodeWs = false; #fs; #ws = null; #calls = new Map(); #asks = []; #delivered = new Set();
  #cursor = null; #closed = false; #broken = null; #stop = new AbortController(); #ready;

  /** @param {import('./tezgah').ClientOptions} opts */
  constructor(opts) {
    if (!REGISTER_RE.test(opts?.register ?? '')) throw new TypeError('register must be 1-64 characters of A-Z a-z 0-9 . _ -');
    this.#opts = { url: DEFAULT_URL, timeoutMs: 300000, maxBackoffMs: 10000, ...opts };
    this.register = opts.register;
    /** How many times a command was refused busy/rate_limited and sent again. */
    this.busyRetries = 0;
    /** The agent's hello answer (null from agents before hello). */
    this.agent = null;
    this.#ready = this.#init();
    this.#ready.then(() => this.#run(), (e) => { // e.g. an unreadable cursor file: every call says so
      this.#broken = e instanceof TezgahError ? e : new TezgahError('cursor_unreadable', String(e?.message ?? e));
      for (const c of [...this.#calls.values()]) this.#finish(c, null, this.#broken);
      for (const a of [...this.#asks]) a.reject(this.#broken);
    });
  }

  async #init() {
    const o = this.#opts;
    if (o.WebSocket) {
      this.#WS = o.WebSocket;
    } else if (typeof process !== 'undefined' && process.versions?.node) {
      this.#WS = (await import('ws')).default; // Node: ws sends Authorization, and no Origin
      this.#nodeWs = true;
    } else {
      this.#WS = globalThis.WebSocket;
    }
    if (o.cursorFile) {
      this.#fs = await import('node:fs');
      let text = null;
      try { text = this.#fs.readFileSync(o.cursorFile, 'utf8').trim(); } catch (e) {
        if (e.code !== 'ENOENT') throw e;
      }
      if (text !== null) {
        if (!/^\d+$/.test(text)) throw new TezgahError('cursor_unreadable', `cursor file ${o.cursorFile} holds ${JSON.stringify(text)}, not a seq`);
        this.#cursor = Number(text);
      }
    } else if (o.cursorStorage) { // browsers: e.g. localStorage
      const v = o.cursorStorage.getItem(`tezgah.cursor.${this.register}`);
      if (v != null) this.#cursor = Number.parseInt(v, 10);
    }
    if (Number.isNaN(this.#cursor)) this.#cursor = null;
  }

  /** The resume cursor (highest seq of non-replayed events processed). */
  get cursor() { return this.#cursor; }

  /** `<register>-<yyyyMMddHHmmss>-<6 random base32>`, cut to fit 64 characters. */
  newId() {
    const t = new Date().toISOString().replace(/[-:T]/g, '').slice(0, 14);
    const r = webcrypto.getRandomValues(new Uint8Array(6));
    return `${this.register.slice(0, 42)}-${t}-${Array.from(r, (b) => B32[b & 31]).join('')}`;
  }

  sale(terminal, amount, o = {}) {
    const cmd = { type: 'sale', id: o.id ?? this.newId(), terminal, amount: amountText(amount) };
    for (const k of ['currency', 'items', 'customer', 'card']) if (o[k] !== undefined) cmd[k] = o[k];
    if (o.expiresIn !== undefined) cmd.expires_in = o.expiresIn;
    return this.send(cmd, o);
  }

  refund(terminal, originalId, amount, o = {}) {
    const cmd = { type: 'refund', id: o.id ?? this.newId(), terminal, original_id: originalId, amount: amountText(amount) };
    if (o.items !== undefined) cmd.items = o.items;
    return this.send(cmd, o);
  }

  void(terminal, originalId, o = {}) {
    return this.send({ type: 'void', id: o.id ?? this.newId(), terminal, original_id: originalId }, o);
  }

  endOfDay(terminal, o = {}) {
    const cmd = { type: 'end_of_day', id: o.id ?? this.newId(), terminal };
    if (o.summary) cmd.summary = true;
    return this.send(cmd, o);
  }

  /** Sends a storing command and resolves with its final result; rejects with TezgahError. */
  async send(command, { timeoutMs } = {}) {
    if (!STORING.includes(command?.type)) throw new TypeError(`send takes a storing command (${STORING.join(', ')})`);
    if (!ID_RE.test(command.id ?? '')) throw new TypeError('id must be 1-64 characters of A-Z a-z 0-9 . _ : / -');
    if (this.#closed) throw new TezgahError('closed', 'the client was closed');
    if (this.#broken) throw this.#broken;
    const body = JSON.stringify(command);
    let call = this.#calls.get(command.id);
    if (call && call.body !== body) throw new TypeError(`id ${command.id} is already in flight here with another body`);
    if (!call) {
      call = { id: command.id, body, accepted: false, retry: null, waiters: 0, shownSeq: 0 };
      call.promise = new Promise((resolve, reject) => { call.resolve = resolve; call.reject = reject; });
      call.promise.catch(() => {}); // each caller handles it below
      this.#calls.set(command.id, call);
      this.#write(body);
    }
    call.waiters++; // the same id sent twice at once shares one call
    let timer;
    const giveUp = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new TezgahError('timeout',
        'no final result yet; the request may still complete: ask again with the same id', { id: call.id })),
      timeoutMs ?? this.#opts.timeoutMs);
    });
    try {
      return await Promise.race([call.promise, giveUp]);
    } finally {
      clearTimeout(timer);
      if (--call.waiters === 0 && this.#calls.get(call.id) === call) { this.#calls.delete(call.id); clearTimeout(call.retry); }
    }
  }

  /** The request's latest event (`replay` true); rejects with TezgahError `not_found`. */
  query(id, o = {}) {
    return this.#ask({ type: 'query', id }, (ev) => ev.id === id && (ev.replay || ev.type === 'error'), o.timeoutMs);
  }

  /** Cancels a request not yet sent to the provider: resolves with its `cancelled` result event. */
  cancel(id, o = {}) {
    return this.#ask({ type: 'cancel', id }, (ev) => ev.id === id && (ev.type === 'result' || ev.type === 'error'), o.timeoutMs);
  }

  status(o = {}) { return this.#ask({ type: 'status' }, (ev) => ev.type === 'status', o.timeoutMs); }

  close() {
    this.#closed = true;
    this.#stop.abort();
    for (const c of [...this.#calls.values()]) this.#finish(c, null, new TezgahError('closed', 'the client was closed', { id: c.id }));
    for (const a of [...this.#asks]) a.reject(new TezgahError('closed', 'the client was closed'));
    this.#asks = [];
    try { this.#ws?.close(); } catch { /* already closed */ }
    this.#ws = null;
  }

  #ask(cmd, match, timeoutMs) {
    if (this.#closed) return Promise.reject(new TezgahError('closed', 'the client was closed'));
    if (this.#broken) return Promise.reject(this.#broken);
    const body = JSON.stringify(cmd);
    return new Promise((resolve, reject) => {
      const ask = { body, match };
      const done = () => { clearTimeout(ask.timer); this.#asks = this.#asks.filter((a) => a !== ask); };
      ask.resolve = (ev) => { done(); resolve(ev); };
      ask.reject = (e) => { done(); reject(e); };
      ask.timer = setTimeout(() => ask.reject(new TezgahError('timeout', `no answer to ${cmd.type}`)), timeoutMs ?? this.#opts.timeoutMs);
      this.#asks.push(ask);
      this.#write(body);
    });
  }

  #finish(call, res, err) {
    if (this.#calls.get(call.id) !== call) return;
    this.#calls.delete(call.id);
    clearTimeout(call.retry);
    if (err) call.reject(err); else call.resolve(res);
  }

  #write(body) {
    if (!this.#ws) return; // the next connection sends it
    try { this.#ws.send(body); } catch { /* closing: the next connection sends it */ }
  }

  async #run() {
    let backoff = 500;
    while (!this.#closed) {
      if (await this.#session()) backoff = 500;
      if (this.#closed) break;
      // Reconnect backoff: 0.5 s doubling to maxBackoffMs, with jitter.
      await sleep(backoff * (0.5 + Math.random() / 2), this.#stop.signal);
      backoff = Math.min(backoff * 2, this.#opts.maxBackoffMs);
    }
  }

  // One connection, from open to close; resolves true if it got as far as resume.
  #session() {
    return new Promise((resolve) => {
      const o = this.#opts;
      let ws;
      let live = false;
      let phase = 'hello';
      let idle;
      try {
        if (this.#nodeWs) {
          ws = new this.#WS(o.url, { headers: o.token ? { Authorization: `Bearer ${o.token}` } : {}, handshakeTimeout: 5000 });
        } else { // browser WebSocket: no headers, the token goes in the URL
          ws = new this.#WS(o.token ? `${o.url}${o.url.includes('?') ? '&' : '?'}token=${encodeURIComponent(o.token)}` : o.url);
        }
      } catch { resolve(false); return; }
      // The agent pings every 20 s: 60 s without a ping or a frame is a dead connection (Node only).
      const alive = () => { clearTimeout(idle); idle = setTimeout(() => ws.terminate?.(), 60000); };
      ws.on?.('ping', alive);
      const abort = () => { try { ws.close(); } catch { /* closing anyway */ } };
      const end = () => {
        clearTimeout(idle);
        this.#stop.signal.removeEventListener('abort', abort);
        if (this.#ws === ws) this.#ws = null;
        if (live && !this.#closed) callBack(o.onConnection, false);
        resolve(live);
      };
      ws.onopen = () => { alive(); ws.send(JSON.stringify({ type: 'hello', register: this.register })); };
      ws.onclose = end;
      ws.onerror = () => { try { ws.close(); } catch { /* closing anyway */ } };
      ws.onmessage = (m) => {
        alive();
        let ev;
        try { ev = JSON.parse(String(m.data)); } catch { return; }
        if (phase === 'hello') {
          if (ev.type === 'hello') {
            this.agent = ev;
            this.#resume(ws, ev.last_seq ?? 0);
            live = true;
            phase = 'live';
          } else if (ev.type === 'error' && ev.error?.code === 'unknown_type') {
            phase = 'status'; // an agent from before hello: this connection is the register "local"
            ws.send('{"type":"status"}');
          } else { // e.g. register_mismatch: every waiting call learns why; reconnecting goes on
            const e = ev.error ?? {};
            for (const c of [...this.#calls.values()]) this.#finish(c, null, new TezgahError(e.code ?? 'protocol', e.message ?? JSON.stringify(ev), { field: e.field, id: c.id }));
            ws.close();
          }
          return;
        }
        if (phase === 'status') {
          if (ev.type === 'status') { this.#resume(ws, ev.last_seq ?? 0); live = true; phase = 'live'; }
          return;
        }
        this.#handle(ev);
      };
      this.#stop.signal.addEventListener('abort', abort, { once: true });
    });
  }

  #resume(ws, lastSeq) {
    if (this.#cursor === null || this.#cursor > lastSeq) { // first start, or the agent's data was reset
      this.#cursor = lastSeq;
      this.#saveCursor();
    }
    ws.send(JSON.stringify({ type: 'resume', since: this.#cursor }));
    this.#ws = ws;
    callBack(this.#opts.onConnection, true);
    for (const c of this.#calls.values()) ws.send(c.accepted ? JSON.stringify({ type: 'query', id: c.id }) : c.body);
    for (const a of this.#asks) ws.send(a.body);
  }

  #handle(ev) {
    const { type, id } = ev;
    const code = ev.error?.code;
    const retry = type === 'error' && code in RETRY_CODES;
    const ask = this.#asks.find((a) => a.match(ev));
    if (ask && !retry) ask.resolve(ev);
    const call = id !== undefined ? this.#calls.get(id) : undefined;
    if ((type === 'accepted' || type === 'state' || type === 'result') && id !== undefined) {
      if (call) call.accepted = true; // stored, possibly a replay: never send it again
      if (type === 'result') {
        const r = result(ev);
        if (call) this.#finish(call, r);
        if (!this.#delivered.has(id)) {
          this.#delivered.add(id);
          if (this.#delivered.size > 10000) this.#delivered.delete(this.#delivered.values().next().value);
          callBack(this.#opts.onResult, r);
        }
      } else if (!call || (ev.seq ?? 0) > call.shownSeq) { // a replay of a state already shown is not shown twice
        if (call) call.shownSeq = ev.seq ?? 0;
        callBack(this.#opts.onState, stateEvent(ev));
      }
    } else if (type === 'error') {
      let targets = call ? [call] : [];
      if (id === undefined && retry) targets = [...this.#calls.values()].filter((c) => !c.accepted);
      for (const c of targets) {
        if (c.accepted) continue; // the answer to our own follow-up query; the result still comes
        if (retry) {
          const ms = ev.error.retry_after_ms ?? RETRY_CODES[code];
          this.busyRetries++;
          callBack(this.#opts.onBusy, c.id, ms);
          clearTimeout(c.retry);
          c.retry = setTimeout(() => { if (this.#calls.get(c.id) === c) this.#write(c.body); }, ms);
        } else {
          this.#finish(c, null, new TezgahError(code, ev.error.message, { field: ev.error.field, retryAfterMs: ev.error.retry_after_ms, id }));
        }
      }
    }
    // Moved only after the callbacks ran: a crash in between delivers the event again rather than never.
    if (Number.isInteger(ev.seq) && !ev.replay && (this.#cursor === null || ev.seq > this.#cursor)) {
      this.#cursor = ev.seq;
      this.#saveCursor();
    }
  }

  #saveCursor() {
    const o = this.#opts;
    if (o.cursorFile) writeCursor(this.#fs, o.cursorFile, this.#cursor);
    else o.cursorStorage?.setItem(`tezgah.cursor.${this.register}`, String(this.#cursor));
  }
}

/** Writes seq to path atomically: temp file in the same folder, fsync, rename, fsync the folder. */
export function writeCursor(fs, path, seq) {
  const slash = Math.max(path.lastIndexOf('/'), path.lastIndexOf('\\'));
  const dir = slash >= 0 ? path.slice(0, slash) || '/' : '.';
  const tmp = `${dir}/.${path.slice(slash + 1)}.${process.pid}.tmp`;
  const fd = fs.openSync(tmp, 'w');
  try { fs.writeSync(fd, `${seq}\n`); fs.fsyncSync(fd); } finally { fs.closeSync(fd); }
  fs.renameSync(tmp, path);
  if (process.platform !== 'win32') { // make the rename itself durable
    const d = fs.openSync(dir, 'r');
    try { fs.fsyncSync(d); } finally { fs.closeSync(d); }
  }
}
