// Compiled by `tsc --noEmit` only: the .d.ts must describe a register's ordinary use.
import { Client, TezgahError, type Result, type StateEvent } from 'tezgah';

async function register(): Promise<string> {
  const c = new Client({
    register: 'kasa-pc-1',
    cursorFile: 'tezgah.cursor',
    onState: (e: StateEvent) => { if (e.state === 'waiting') void e.actionUrl; },
    onResult: (r: Result) => void r.status,
    onBusy: (id: string, ms: number) => void [id, ms],
  });
  try {
    const sale: Result = await c.sale('kasa-1', '150.00', { expiresIn: 60, currency: 'TRY' });
    const minor: Result = await c.sale('kasa-1', 15000n);
    await c.refund('kasa-1', sale.id, '50.00');
    await c.void('kasa-1', minor.id);
    await c.endOfDay('kasa-1', { summary: true });
    const q = await c.query(sale.id);
    return `${sale.payment?.authCode ?? ''} ${String(q.status)} ${c.busyRetries}`;
  } catch (e) {
    if (e instanceof TezgahError && e.code === 'id_conflict') return e.field ?? '';
    throw e;
  } finally {
    c.close();
  }
}
void register;
