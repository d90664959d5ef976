// Types of tezgah.mjs. Field names are the protocol's (docs/schema/tezgah-v1.schema.json)
// in camelCase; clients/conformance_test.go checks them against the schema.

export declare const DEFAULT_URL: string;
export declare const STATUSES: readonly Status[];
export declare const STATES: readonly State[];
export declare const RETRY_CODES: Readonly<Record<string, number>>;

/** Final status of a storing command. */
export type Status = 'approved' | 'declined' | 'failed' | 'expired' | 'cancelled';
/** Progress of a request. */
export type State = 'queued' | 'sending' | 'waiting' | 'unknown';
/** An amount: a decimal string ("150.00") or a bigint of minor units (15000n); never a number. */
export type Amount = string | bigint;

/** The provider's record of a money movement; fields a provider does not return are undefined. */
export interface Payment {
  provider: 'iyzico' | 'paywall' | 'vomsis';
  paymentId?: string;
  paymentDate?: string;
  authCode?: string;
  hostReference?: string;
  amount?: string;
  currency?: string;
  cardType?: string;
  maskedPan?: string;
  batchNo?: string;
  detail?: Record<string, unknown>;
}

/** A protocol error: code is stable, message is for people. */
export interface ErrorInfo {
  code: string;
  message: string;
  field?: string;
  retryAfterMs?: number;
}

/** The one final answer of a storing command. */
export interface Result {
  id: string;
  status: Status;
  payment?: Payment;
  error?: ErrorInfo;
  replay: boolean;
  seq?: number;
  register?: string;
  readonly approved: boolean;
  /** The event as the agent sent it. */
  raw: Record<string, unknown>;
}

/** An `accepted` or `state` event: show it to the cashier. */
export interface StateEvent {
  id: string;
  state: State;
  attempt?: number;
  reason?: string;
  /** With `waiting`: the 3-D Secure page to open. */
  actionUrl?: string;
  nextAttemptAt?: string;
  replay: boolean;
  seq?: number;
  register?: string;
  raw: Record<string, unknown>;
}

/** Where a browser keeps the cursor (e.g. localStorage). */
export interface CursorStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

export interface ClientOptions {
  /** Default ws://127.0.0.1:8417/v1/ws. */
  url?: string;
  /** This register's name: 1–64 of A-Z a-z 0-9 . _ - */
  register: string;
  /** Node: the file holding the resume cursor, written atomically. */
  cursorFile?: string;
  /** Browsers: where to keep the cursor instead of a file. */
  cursorStorage?: CursorStorage;
  /** Pairing token (`tezgah pair`): Authorization header on Node, ?token= in browsers. */
  token?: string;
  onState?: (e: StateEvent) => void;
  /** Every result once per id, also of requests sent before a restart. */
  onResult?: (r: Result) => void;
  onConnection?: (up: boolean) => void;
  /** A command was refused busy/rate_limited; it is sent again after retryAfterMs. */
  onBusy?: (id: string, retryAfterMs: number) => void;
  /** A call's default timeout, ms (300000). */
  timeoutMs?: number;
  /** Reconnect backoff ceiling, ms (10000). */
  maxBackoffMs?: number;
  /** A WebSocket constructor to use instead of ws (Node) or globalThis.WebSocket. */
  WebSocket?: unknown;
}

export interface CallOptions {
  /** Your id (your idempotency key); default newId(). */
  id?: string;
  timeoutMs?: number;
}

export interface SaleOptions extends CallOptions {
  currency?: 'TRY' | 'USD' | 'EUR' | 'GBP';
  expiresIn?: number;
  items?: Array<Record<string, unknown>>;
  customer?: Record<string, unknown>;
  /** Card-not-present terminals (Vomsis) only; kept in memory only. */
  card?: { number: string; expiry_month: string; expiry_year: string; cvc: string; holder: string };
}

/**
 * The agent refused a command (nothing stored: code is the protocol's stable code),
 * or the library gave up: `timeout`, `closed`, `cursor_unreadable`.
 */
export declare class TezgahError extends Error {
  constructor(code: string, message?: string, extra?: { field?: string; retryAfterMs?: number; id?: string });
  readonly code: string;
  readonly field?: string;
  readonly retryAfterMs?: number;
  readonly id?: string;
  /** The agent's message, for people. */
  readonly detail: string;
}

export declare class Client {
  constructor(opts: ClientOptions);
  readonly register: string;
  /** How many times a command was refused busy/rate_limited and sent again. */
  busyRetries: number;
  /** The agent's hello answer (null from agents before hello). */
  agent: Record<string, unknown> | null;
  readonly cursor: number | null;
  /** `<register>-<yyyyMMddHHmmss>-<6 random base32>`. */
  newId(): string;
  sale(terminal: string, amount: Amount, opts?: SaleOptions): Promise<Result>;
  refund(terminal: string, originalId: string, amount: Amount, opts?: CallOptions & { items?: Array<Record<string, unknown>> }): Promise<Result>;
  void(terminal: string, originalId: string, opts?: CallOptions): Promise<Result>;
  endOfDay(terminal: string, opts?: CallOptions & { summary?: boolean }): Promise<Result>;
  /** Any storing command (snake_case, as on the wire). */
  send(command: { type: string; id: string; [field: string]: unknown }, opts?: { timeoutMs?: number }): Promise<Result>;
  /** The request's latest event, `replay: true`, as the agent sent it. */
  query(id: string, opts?: { timeoutMs?: number }): Promise<Record<string, unknown>>;
  cancel(id: string, opts?: { timeoutMs?: number }): Promise<Record<string, unknown>>;
  status(opts?: { timeoutMs?: number }): Promise<Record<string, unknown>>;
  close(): void;
}

export declare function amountText(amount: Amount): string;
export declare function writeCursor(fs: unknown, path: string, seq: number): void;
