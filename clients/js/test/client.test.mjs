// The money rules of tezgah.mjs, each against a scripted fake agent (ws's
// server) for the cases the real agent cannot be made to produce on demand.
// The real agent runs the same module in clients/conformance_test.go.
//   cd clients/js && npm ci && node --test test/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket, { WebSocketServer } from 'ws';
import { Client, TezgahError } from '../tezgah.mjs';

const APPROVED = { provider: 'iyzico', payment_id: '29811001', auth_code: '100001', amount: '10.00', currency: 'TRY' };

// fakeAgent runs script(conn, n) for each connection n; conn.next() is the
// next frame (parsed, with .text the bytes as sent).
async function fakeAgent(t, script) {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((r) => wss.on('listening', r));
  let n = 0;
  const errors = [];
  wss.on('connection', (ws, req) => {
    const frames = [];
    const waiting = [];
    ws.on('message', (data) => {
      const m = JSON.parse(String(data));
      Object.defineProperty(m, 'text', { value: String(data) });
      const w = waiting.shift();
      if (w) w(m); else frames.push(m);
    });
    const conn = {
      req,
      next: () => (frames.length ? Promise.resolve(frames.shift()) : new Promise((r) => waiting.push(r))),
      async nextOf(...types) { for (;;) { const m = await conn.next(); if (types.includes(m.type)) return m; } },
      send: (o) => ws.send(JSON.stringify(o)),
      drop: () => ws.terminate(),
      async hello(lastSeq = 0) {
        const h = await conn.next();
        assert.equal(h.type, 'hello');
        conn.send({ type: 'hello', register: h.register, agent: 'fake', protocol: 1, last_seq: lastSeq });
        const r = await conn.next();
        assert.equal(r.type, 'resume');
        conn.send({ type: 'resumed', since: r.since, last_seq: lastSeq, scope: 'register' });
        return r;
      },
    };
    script(conn, n++).catch((e) => errors.push(e));
  });
  t.after(() => { wss.close(); for (const c of wss.clients) c.terminate(); assert.deepEqual(errors, []); });
  return `ws://127.0.0.1:${wss.address().port}/v1/ws`;
}

const dir = () => mkdtempSync(join(tmpdir(), 'tezgah-js-'));

async function until(cond, what) {
  for (let i = 0; i < 1000; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 10)); // polls real state with a deadline
  }
  throw new Error(`timed out waiting for ${what}`);
}

test('hello first, resume from last_seq, cursor on disk atomically', async (t) => {
  const d = dir();
  const url = await fakeAgent(t, async (c) => {
    assert.equal((await c.hello(41)).since, 41);
    const sale = await c.nextOf('sale');
    c.send({ type: 'accepted', id: sale.id, seq: 42, state: 'queued' });
    c.send({ type: 'result', id: sale.id, seq: 43, status: 'approved', payment: APPROVED });
  });
  const c = new Client({ url, register: 'kasa-pc-1', cursorFile: join(d, 'cursor'), timeoutMs: 10000 });
  t.after(() => c.close());
  const r = await c.sale('kasa-1', 1000n, { id: 'R1-1' });
  assert.ok(r.approved);
  assert.equal(r.payment.authCode, '100001');
  await until(() => readFileSync(join(d, 'cursor'), 'utf8') === '43\n', 'cursor 43');
  assert.deepEqual(readdirSync(d), ['cursor']);
});

test('a replay never moves the cursor', async (t) => {
  const d = dir();
  writeFileSync(join(d, 'cursor'), '10\n');
  const url = await fakeAgent(t, async (c) => {
    assert.equal((await c.hello(50)).since, 10);
    const q = await c.nextOf('query');
    c.send({ type: 'result', id: q.id, seq: 48, replay: true, status: 'approved', payment: APPROVED });
    c.send({ type: 'state', id: 'other', seq: 11, state: 'sending' });
  });
  const c = new Client({ url, register: 'kasa-pc-1', cursorFile: join(d, 'cursor') });
  t.after(() => c.close());
  assert.equal((await c.query('R1-1')).seq, 48);
  await until(() => c.cursor === 11, 'cursor 11');
  assert.equal(readFileSync(join(d, 'cursor'), 'utf8'), '11\n');
});

test('busy: the same body again after retry_after_ms', async (t) => {
  const bodies = [];
  const url = await fakeAgent(t, async (c) => {
    await c.hello();
    for (let i = 0; i < 3; i++) {
      const sale = await c.nextOf('sale');
      bodies.push(sale.text);
      if (i < 2) c.send({ type: 'error', id: sale.id, error: { code: 'busy', retry_after_ms: 50, message: 'busy' } });
      else c.send({ type: 'result', id: sale.id, seq: 2, status: 'approved', payment: APPROVED });
    }
  });
  const busy = [];
  const c = new Client({ url, register: 'kasa-pc-1', onBusy: (id, ms) => busy.push([id, ms]) });
  t.after(() => c.close());
  assert.ok((await c.sale('kasa-1', '10.00', { id: 'R1-9', expiresIn: 60 })).approved);
  assert.equal(c.busyRetries, 2);
  assert.deepEqual(busy, [['R1-9', 50], ['R1-9', 50]]);
  assert.equal(new Set(bodies).size, 1);
});

test('unaccepted: sent again after reconnect; accepted: queried; results once', async (t) => {
  const seen = [];
  const url = await fakeAgent(t, async (c, n) => {
    if (n === 0) {
      await c.hello(5);
      seen.push((await c.nextOf('sale')).text);
      c.drop(); // before accepted
    } else if (n === 1) {
      await c.hello(5);
      const sale = await c.nextOf('sale');
      seen.push(sale.text);
      c.send({ type: 'accepted', id: sale.id, seq: 6, state: 'queued' });
      c.drop(); // after accepted, before the result
    } else {
      assert.equal((await c.hello(7)).since, 6);
      assert.deepEqual({ ...(await c.nextOf('query', 'sale')) }, { type: 'query', id: 'R1-2' });
      c.send({ type: 'result', id: 'R1-2', seq: 7, status: 'declined', error: { code: 'card_declined', message: 'Yetersiz bakiye' } });
      c.send({ type: 'result', id: 'R1-2', seq: 7, replay: true, status: 'declined', error: { code: 'card_declined', message: 'Yetersiz bakiye' } });
      c.send({ type: 'state', id: 'marker', seq: 8, state: 'sending' }); // comes after both, in order
    }
  });
  const results = [];
  let marker = false;
  const c = new Client({ url, register: 'kasa-pc-1', onResult: (r) => results.push(r.id), maxBackoffMs: 200,
    onState: (e) => { if (e.id === 'marker') marker = true; } });
  t.after(() => c.close());
  const r = await c.sale('kasa-1', '10.00', { id: 'R1-2' });
  assert.equal(r.status, 'declined');
  assert.equal(r.error.code, 'card_declined');
  assert.equal(seen[0], seen[1]);
  await until(() => marker, 'the events after the replay');
  assert.deepEqual(results, ['R1-2']);
});

test('a refusal is a TezgahError with the stable code', async (t) => {
  const url = await fakeAgent(t, async (c) => {
    await c.hello();
    const sale = await c.nextOf('sale');
    c.send({ type: 'error', id: sale.id, error: { code: 'id_conflict', field: 'id', message: 'used for another request' } });
  });
  const c = new Client({ url, register: 'kasa-pc-1' });
  t.after(() => c.close());
  await assert.rejects(c.sale('kasa-1', '3.50', { id: 'R1-4' }),
    (e) => e instanceof TezgahError && e.code === 'id_conflict' && e.field === 'id' && e.id === 'R1-4');
});

test('amounts are never numbers; ids fit', async () => {
  const c = new Client({ url: 'ws://127.0.0.1:9/v1/ws', register: 'k'.repeat(64) });
  try {
    assert.throws(() => c.sale('kasa-1', 10.5), TypeError);
    assert.match(c.newId(), /^k{42}-\d{14}-[A-Z2-7]{6}$/);
    assert.throws(() => new Client({ register: 'kasa pc' }), TypeError);
  } finally { c.close(); }
});

test('a refused hello fails the waiting call with the reason', async (t) => {
  const url = await fakeAgent(t, async (c) => {
    assert.equal((await c.next()).type, 'hello');
    c.send({ type: 'error', error: { code: 'register_mismatch', field: 'register', message: 'this connection is register kasa-pc-2' } });
  });
  const c = new Client({ url, register: 'kasa-pc-1' });
  t.after(() => c.close());
  await assert.rejects(c.sale('kasa-1', '1.00', { id: 'R1-6' }),
    (e) => e instanceof TezgahError && e.code === 'register_mismatch' && e.field === 'register');
});

test('a caller giving up leaves the other waiting on the same id', async (t) => {
  let release;
  const released = new Promise((r) => { release = r; });
  const url = await fakeAgent(t, async (c) => {
    await c.hello();
    const sale = await c.nextOf('sale');
    c.send({ type: 'accepted', id: sale.id, seq: 1, state: 'queued' });
    await released;
    c.send({ type: 'result', id: sale.id, seq: 2, status: 'approved', payment: APPROVED });
  });
  const c = new Client({ url, register: 'kasa-pc-1', timeoutMs: 10000 });
  t.after(() => c.close());
  const patient = c.sale('kasa-1', '10.00', { id: 'R1-7' });
  await assert.rejects(c.sale('kasa-1', '10.00', { id: 'R1-7', timeoutMs: 200 }), (e) => e.code === 'timeout');
  release();
  assert.equal((await patient).status, 'approved');
});

test('a replayed state is shown once', async (t) => {
  const url = await fakeAgent(t, async (c) => {
    await c.hello();
    const sale = await c.nextOf('sale');
    const unknown = { type: 'state', id: sale.id, seq: 2, state: 'unknown', attempt: 1 };
    c.send({ type: 'accepted', id: sale.id, seq: 1, state: 'queued' });
    c.send(unknown);
    c.send({ ...unknown, replay: true }); // as the answer to the library's query after a reconnect
    c.send({ type: 'result', id: sale.id, seq: 3, status: 'approved', payment: APPROVED });
  });
  const states = [];
  const c = new Client({ url, register: 'kasa-pc-1', onState: (e) => states.push(e.state) });
  t.after(() => c.close());
  await c.sale('kasa-1', '10.00', { id: 'R1-8' });
  assert.deepEqual(states, ['queued', 'unknown']);
});

test('the pairing token: a header on Node, ?token= with a browser WebSocket; never an Origin', async (t) => {
  const seen = [];
  const url = await fakeAgent(t, async (c) => {
    seen.push({ auth: c.req.headers.authorization, url: c.req.url, origin: c.req.headers.origin });
    await c.hello();
    const sale = await c.nextOf('sale');
    c.send({ type: 'result', id: sale.id, seq: 1, status: 'approved', payment: APPROVED });
  });
  // ws passed as WebSocket stands in for a browser's: the URL and the on* handlers only.
  for (const opts of [{}, { WebSocket }]) {
    const c = new Client({ url, register: 'kasa-pc-1', token: 's3cret', ...opts });
    try { assert.ok((await c.sale('kasa-1', '1.00')).approved); } finally { c.close(); }
  }
  assert.deepEqual(seen, [
    { auth: 'Bearer s3cret', url: '/v1/ws', origin: undefined },
    { auth: undefined, url: '/v1/ws?token=s3cret', origin: undefined },
  ]);
});

test('a throwing callback neither drops the connection nor the result', async (t) => {
  let conns = 0;
  const url = await fakeAgent(t, async (c) => {
    conns++;
    await c.hello();
    for (const id of ['R1-10', 'R1-11']) {
      const sale = await c.nextOf('sale');
      assert.equal(sale.id, id);
      c.send({ type: 'result', id, seq: id.length, status: 'approved', payment: APPROVED });
    }
  });
  const boom = () => { throw new Error('register bug'); };
  const logged = [];
  t.mock.method(console, 'error', (...a) => logged.push(a[0]));
  const c = new Client({ url, register: 'kasa-pc-1', onResult: boom, onState: boom });
  t.after(() => c.close());
  assert.ok((await c.sale('kasa-1', '1.00', { id: 'R1-10' })).approved);
  assert.ok((await c.sale('kasa-1', '1.00', { id: 'R1-11' })).approved);
  assert.equal(conns, 1);
  assert.deepEqual(logged, ['tezgah: callback threw', 'tezgah: callback threw']);
});

test('a cursor file that holds no seq is refused, not silently restarted', async () => {
  const d = dir();
  writeFileSync(join(d, 'cursor'), 'garbage\n');
  const c = new Client({ url: 'ws://127.0.0.1:9/v1/ws', register: 'kasa-pc-1', cursorFile: join(d, 'cursor') });
  try {
    await assert.rejects(c.sale('kasa-1', '1.00'), (e) => e.code === 'cursor_unreadable');
    await assert.rejects(c.status(), (e) => e.code === 'cursor_unreadable');
  } finally { c.close(); }
});

test('an agent from before hello is spoken to as the register local', async (t) => {
  const url = await fakeAgent(t, async (c) => {
    assert.equal((await c.next()).type, 'hello');
    c.send({ type: 'error', error: { code: 'unknown_type', field: 'type', message: 'unknown' } });
    assert.deepEqual({ ...(await c.next()) }, { type: 'status' });
    c.send({ type: 'status', last_seq: 7, agent: {}, terminals: [] });
    assert.deepEqual({ ...(await c.next()) }, { type: 'resume', since: 7 });
  });
  const c = new Client({ url, register: 'kasa-pc-1' });
  t.after(() => c.close());
  await until(() => c.cursor === 7, 'cursor from status');
});
