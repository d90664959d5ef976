// An example cash register: a sale, then a refund of it, showing the cashier each step.
//   node examples/register.mjs --url ws://127.0.0.1:8417/v1/ws --register kasa-pc-1 --terminal kasa-1 --amount 150.00
// Restart the agent while it waits: the library reconnects, resumes and the
// result is printed once it comes.
import { Client, DEFAULT_URL, TezgahError } from '../tezgah.mjs';

const a = { url: DEFAULT_URL, register: 'kasa-pc-1', terminal: 'kasa-1', amount: '150.00' };
for (let i = 2; i + 1 < process.argv.length; i += 2) a[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
const tag = `[${a.terminal}]`;
const SAYS = {
  accepted: 'stored by the agent', queued: 'waiting for the terminal', sending: 'waiting for card…',
  waiting: "waiting for the customer's bank page", unknown: 'checking with the bank (unknown)…',
};

const c = new Client({
  url: a.url,
  register: a.register,
  cursorFile: a.cursor ?? `${a.register}.cursor`,
  onState: (e) => console.log(`${tag} ${e.id}: ${SAYS[e.state] ?? e.state}${e.actionUrl ? ` ${e.actionUrl}` : ''}`),
  onConnection: (up) => console.log(`${tag} agent ${up ? 'connected' : 'lost, reconnecting…'}`),
});

function show(what, r) {
  if (r.approved) {
    const p = r.payment ?? {};
    console.log(`${tag} ${what}: APPROVED auth ${p.authCode ?? '-'} payment ${p.paymentId ?? '-'} ${p.maskedPan ?? ''}`);
  } else {
    console.log(`${tag} ${what}: ${r.status.toUpperCase()} ${r.error?.code ?? ''} ${r.error?.message ?? ''}`);
  }
}

try {
  console.log(`${tag} Sale ${a.amount} TRY: waiting for card…`);
  const sale = await c.sale(a.terminal, a.amount);
  show('Sale', sale);
  if (sale.approved) {
    console.log(`${tag} Refund ${a.amount} TRY of ${sale.id}…`);
    const refund = await c.refund(a.terminal, sale.id, a.amount);
    show('Refund', refund);
    process.exitCode = refund.approved ? 0 : 1;
  } else {
    process.exitCode = 1;
  }
} catch (e) {
  console.log(`${tag} refused: ${e instanceof TezgahError ? `${e.code} ${e.detail}` : e}`);
  process.exitCode = 1;
} finally {
  c.close();
}
