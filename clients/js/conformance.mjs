// The client-kit conformance program: one step per process (clients/README.md).
//   node conformance.mjs --url URL --register NAME --cursor FILE --step STEP [--id ID] [--terminal T] [--amount A]
// Prints "OK <step> ..." (exit 0) or "FAIL <step> <why>" (exit 1); ACTION,
// INFLIGHT and BUSY lines tell the runner what to do meanwhile.
import { Client, TezgahError } from './tezgah.mjs';

const CARD = { number: '4508034508034509', expiry_month: '12', expiry_year: '2031', cvc: '123', holder: 'Zeynep Kaya' };
const a = {};
for (let i = 2; i + 1 < process.argv.length; i += 2) a[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
const say = (line) => process.stdout.write(`${line}\n`);
class Fail extends Error {}
const want = (r, status, what) => {
  if (r.status !== status) throw new Fail(`${what}: want ${status}, got ${r.status} ${r.error?.code ?? ''}`);
  return r;
};

let watched = a.id;
let inflight = false;
const results = [];
const c = new Client({
  url: a.url,
  register: a.register,
  cursorFile: a.cursor,
  timeoutMs: Number(a.timeout ?? 100) * 1000,
  onState: (e) => {
    if (e.id !== watched) return;
    if (e.state === 'waiting' && e.actionUrl) say(`ACTION ${e.actionUrl}`);
    if (a.step === 'kill_restart' && e.state === 'sending' && !inflight) { inflight = true; say(`INFLIGHT ${e.id}`); }
  },
  onResult: (r) => { if (r.id === watched) results.push(r); },
  onBusy: (id, ms) => say(`BUSY ${id} ${ms}`),
});

async function run() {
  switch (a.step) {
    case 'sale_refund_void_query_eod': {
      const sale = want(await c.sale('kasa-1', '10.00'), 'approved', 'sale');
      want(await c.refund('kasa-1', sale.id, '4.00'), 'approved', 'refund');
      const sale2 = want(await c.sale('kasa-1', 500n), 'approved', 'second sale');
      want(await c.void('kasa-1', sale2.id), 'approved', 'void');
      const q = await c.query(sale.id);
      if (q.type !== 'result' || !q.replay || q.status !== 'approved') throw new Fail(`query: got ${JSON.stringify(q)}`);
      want(await c.endOfDay('kasa-1'), 'approved', 'end_of_day');
      return '';
    }
    case 'paywall_sale':
      want(await c.sale('kasa-3', '7.50'), 'approved', 'sale');
      return '';
    case 'vomsis_3ds':
      watched = a.id ?? c.newId();
      want(await c.sale('vpos-1', '12.00', { id: watched, card: CARD }), 'approved', 'sale');
      return '';
    case 'kill_restart': {
      watched = a.id ?? c.newId();
      const r = await c.sale('kasa-2', '3.00', { id: watched });
      if (results.length !== 1) throw new Fail(`results delivered for ${watched}: ${results.length}`);
      return r.status;
    }
    case 'same_id': {
      const id = a.id ?? c.newId();
      const first = want(await c.sale('kasa-1', '2.50', { id }), 'approved', 'sale');
      const again = await c.sale('kasa-1', '2.50', { id });
      if (!again.replay || again.status !== first.status || again.payment?.paymentId !== first.payment?.paymentId) {
        throw new Fail(`same body again: got ${JSON.stringify(again.raw)}`);
      }
      try {
        await c.sale('kasa-1', '3.50', { id });
      } catch (e) {
        if (e instanceof TezgahError && e.code === 'id_conflict') return '';
        throw new Fail(`other body: want id_conflict, got ${e.code ?? e}`);
      }
      throw new Fail('other body: want id_conflict, got a result');
    }
    case 'two_registers':
      return want(await c.sale('kasa-1', '2.00', { id: a.id ?? 'R1-1' }), 'approved', 'sale').payment.paymentId;
    case 'busy': {
      const r = await c.sale(a.terminal ?? 'kasa-1', a.amount ?? '1.00', { id: a.id ?? c.newId() });
      if (c.busyRetries < 1) throw new Fail(`never answered busy (result ${r.status})`);
      return String(c.busyRetries);
    }
    default:
      throw new Fail('unknown step');
  }
}

try {
  const extra = await run();
  say(`OK ${a.step}${extra ? ` ${extra}` : ''}`);
  process.exitCode = 0;
} catch (e) {
  say(`FAIL ${a.step} ${String(e.message ?? e).replace(/\n/g, ' ')}`);
  process.exitCode = 1;
} finally {
  c.close();
}
