"""The register's side of tezgah protocol v1 over WebSocket.

Read this file top to bottom to see every money rule the register must keep
(docs/protocol.md, "The rules that keep money safe"):

1. ``hello`` first on every connection, with the register's name.
2. Every storing command not yet ``accepted`` is kept in memory with its exact
   body and sent again, same id and same body, after a reconnect. A replay
   answer counts as accepted.
3. The resume cursor is the highest ``seq`` of events without ``"replay":true``,
   written atomically to the caller's cursor file; ``resume`` after hello.
4. After resume, ``query`` every awaited id (covers a lost cursor file).
5. A result is delivered to ``on_result`` once per id.
6. ``busy`` / ``rate_limited`` are not errors for the caller: wait, send the
   same command again, within the call's own timeout.
"""

from __future__ import annotations

import base64
import collections
import json
import logging
import os
import random
import re
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Callable, Optional

import websocket  # websocket-client (Debian: python3-websocket)

DEFAULT_URL = "ws://127.0.0.1:8417/v1/ws"
STATUSES = ("approved", "declined", "failed", "expired", "cancelled")
STATES = ("queued", "sending", "waiting", "unknown")
# Error codes that mean "nothing was stored, send the same command again".
RETRY_CODES = {"busy": None, "rate_limited": 1000, "unavailable": 1000, "shutting_down": 1000}
STORING = ("sale", "refund", "void", "end_of_day", "partial_start", "partial_add", "partial_complete")

log = logging.getLogger("tezgah")
_REGISTER = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_ID = re.compile(r"^[A-Za-z0-9._:/-]{1,64}$")


@dataclass(frozen=True)
class Payment:
    """The provider's record of a money movement (absent fields are None)."""

    provider: str
    payment_id: Optional[str] = None
    payment_date: Optional[str] = None
    auth_code: Optional[str] = None
    host_reference: Optional[str] = None
    amount: Optional[str] = None  # decimal string, never a float
    currency: Optional[str] = None
    card_type: Optional[str] = None
    masked_pan: Optional[str] = None
    batch_no: Optional[str] = None
    detail: Optional[dict] = None  # provider-specific, as sent

    @classmethod
    def from_json(cls, d: dict) -> "Payment":
        return cls(**{k: d.get(k) for k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class ErrorInfo:
    """A protocol error: ``code`` is stable, ``message`` is for people."""

    code: str
    message: str = ""
    field: Optional[str] = None
    retry_after_ms: Optional[int] = None

    @classmethod
    def from_json(cls, d: dict) -> "ErrorInfo":
        return cls(**{k: d.get(k) for k in cls.__dataclass_fields__ if k in d})


@dataclass(frozen=True)
class Result:
    """The one final answer of a storing command."""

    id: str
    status: str  # one of STATUSES
    payment: Optional[Payment] = None
    error: Optional[ErrorInfo] = None
    replay: bool = False
    seq: Optional[int] = None
    register: Optional[str] = None
    raw: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def approved(self) -> bool:
        return self.status == "approved"

    @classmethod
    def from_json(cls, ev: dict) -> "Result":
        return cls(id=ev["id"], status=ev["status"],
                   payment=Payment.from_json(ev["payment"]) if ev.get("payment") else None,
                   error=ErrorInfo.from_json(ev["error"]) if ev.get("error") else None,
                   replay=bool(ev.get("replay")), seq=ev.get("seq"), register=ev.get("register"), raw=ev)


@dataclass(frozen=True)
class StateEvent:
    """Progress of a request: show it to the cashier."""

    id: str
    state: str  # one of STATES (and "accepted" for the accepted event)
    attempt: Optional[int] = None
    reason: Optional[str] = None
    action_url: Optional[str] = None  # "waiting": the 3-D Secure page to open
    next_attempt_at: Optional[str] = None
    replay: bool = False
    seq: Optional[int] = None
    register: Optional[str] = None

    @classmethod
    def from_json(cls, ev: dict) -> "StateEvent":
        return cls(id=ev["id"], state=ev.get("state", ev["type"]), attempt=ev.get("attempt"),
                   reason=ev.get("reason"), action_url=ev.get("action_url"),
                   next_attempt_at=ev.get("next_attempt_at"), replay=bool(ev.get("replay")),
                   seq=ev.get("seq"), register=ev.get("register"))


class TezgahError(Exception):
    """The agent refused a command (nothing stored), or the call gave up.

    ``code`` is the protocol's stable error code (``id_conflict``,
    ``invalid_amount``, ...). Client-side codes: ``timeout`` (no final result
    within the call's timeout: the request may still complete; ask again with
    the same id), ``closed`` and ``cursor_unreadable``.
    """

    def __init__(self, code: str, message: str = "", field: Optional[str] = None,
                 retry_after_ms: Optional[int] = None, id: Optional[str] = None):
        super().__init__(f"{code}: {message}" + (f" (field {field})" if field else ""))
        self.code, self.message, self.field = code, message, field
        self.retry_after_ms, self.id = retry_after_ms, id


class _Call:
    """A storing command waiting for its final result."""

    def __init__(self, id: str, body: str):
        self.id, self.body = id, body
        self.accepted = False
        self.shown_seq = 0  # highest seq of its events given to on_state: a replay of one is not shown twice
        self.waiters = 0  # callers waiting on it (the same id sent twice at once shares one)
        self.result: Optional[Result] = None
        self.error: Optional[TezgahError] = None
        self.retry_at: Optional[float] = None  # monotonic time of the next busy resend


class _Ask:
    """A non-storing command (query, cancel, status) waiting for its answer."""

    def __init__(self, body: str, match: Callable[[dict], bool]):
        self.body, self.match = body, match
        self.answer: Optional[dict] = None


def write_cursor(path: str, seq: int) -> None:
    """Write seq to path atomically: temp file in the same folder, fsync, rename."""
    d = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(d, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="ascii") as f:
        f.write(f"{seq}\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    if hasattr(os, "O_DIRECTORY"):  # make the rename itself durable (POSIX)
        fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def read_cursor(path: Optional[str]) -> Optional[int]:
    if not path:
        return None
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            text = f.read().strip()
    except FileNotFoundError:
        return None
    if not text.isdigit():
        # Never start over silently: results of earlier requests would be missed.
        raise TezgahError("cursor_unreadable", f"cursor file {path} holds {text!r}, not a seq")
    return int(text)


def amount_text(amount: Any) -> str:
    """An amount as the protocol's decimal string; floats are refused."""
    if isinstance(amount, str):
        return amount
    if isinstance(amount, Decimal):
        return format(amount, "f")
    raise TypeError(f"amount must be a decimal string or decimal.Decimal, not {type(amount).__name__}")


class Client:
    """A register's connection to the agent; thread-safe; reconnects by itself.

    Callbacks run on the library's reader thread: keep them short and never
    call a blocking method of the client (sale, query, ...) from one.
    """

    def __init__(self, register: str, url: str = DEFAULT_URL, *, cursor_file: Optional[str] = None,
                 token: Optional[str] = None,
                 on_state: Optional[Callable[[StateEvent], None]] = None,
                 on_result: Optional[Callable[[Result], None]] = None,
                 on_connection: Optional[Callable[[bool], None]] = None,
                 on_busy: Optional[Callable[[str, int], None]] = None,
                 timeout: float = 300.0, connect_timeout: float = 5.0, max_backoff: float = 10.0):
        if not _REGISTER.match(register or ""):
            raise ValueError("register must be 1-64 characters of A-Z a-z 0-9 . _ -")
        self.register, self.url, self.cursor_file, self.token = register, url, cursor_file, token
        self.on_state, self.on_result, self.on_connection, self.on_busy = on_state, on_result, on_connection, on_busy
        self.timeout, self.connect_timeout, self.max_backoff = timeout, connect_timeout, max_backoff
        self.busy_retries = 0  # how many times a command was refused busy/rate_limited and sent again
        self.agent: Optional[dict] = None  # the agent's hello answer (None from agents before hello)

        self._mu = threading.Condition()  # guards everything below
        self._ws: Optional[websocket.WebSocket] = None  # set once hello and resume are sent
        self._calls: dict[str, _Call] = {}
        self._asks: list[_Ask] = []
        self._delivered: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._cursor = read_cursor(cursor_file)
        self._closed = False
        self._send_mu = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"tezgah-{register}", daemon=True)
        self._thread.start()

    # --- public API -------------------------------------------------------

    def new_id(self) -> str:
        """``<register>-<yyyyMMddHHmmss>-<6 random base32>``, cut to fit 64 characters."""
        rnd = base64.b32encode(secrets.token_bytes(5)).decode()[:6]
        return f"{self.register[:42]}-{time.strftime('%Y%m%d%H%M%S', time.gmtime())}-{rnd}"

    def sale(self, terminal: str, amount: Any, *, id: Optional[str] = None, currency: Optional[str] = None,
             expires_in: Optional[int] = None, items: Optional[list] = None, customer: Optional[dict] = None,
             card: Optional[dict] = None, timeout: Optional[float] = None) -> Result:
        cmd = {"type": "sale", "id": id or self.new_id(), "terminal": terminal, "amount": amount_text(amount)}
        _put(cmd, currency=currency, expires_in=expires_in, items=items, customer=customer, card=card)
        return self.send(cmd, timeout=timeout)

    def refund(self, terminal: str, original_id: str, amount: Any, *, id: Optional[str] = None,
               items: Optional[list] = None, timeout: Optional[float] = None) -> Result:
        cmd = {"type": "refund", "id": id or self.new_id(), "terminal": terminal,
               "original_id": original_id, "amount": amount_text(amount)}
        _put(cmd, items=items)
        return self.send(cmd, timeout=timeout)

    def void(self, terminal: str, original_id: str, *, id: Optional[str] = None,
             timeout: Optional[float] = None) -> Result:
        return self.send({"type": "void", "id": id or self.new_id(), "terminal": terminal,
                          "original_id": original_id}, timeout=timeout)

    def end_of_day(self, terminal: str, *, summary: bool = False, id: Optional[str] = None,
                   timeout: Optional[float] = None) -> Result:
        cmd = {"type": "end_of_day", "id": id or self.new_id(), "terminal": terminal}
        if summary:
            cmd["summary"] = True
        return self.send(cmd, timeout=timeout)

    def send(self, command: dict, *, timeout: Optional[float] = None) -> Result:
        """Send a storing command and wait for its final result.

        Raises TezgahError when the agent refuses it (nothing stored) or no
        result came within timeout (then the request may still complete:
        on_result receives it, or call again with the same id and body).
        """
        if command.get("type") not in STORING:
            raise ValueError(f"send takes a storing command ({', '.join(STORING)})")
        id = command.get("id") or ""
        if not _ID.match(id):
            raise ValueError("id must be 1-64 characters of A-Z a-z 0-9 . _ : / -")
        body = json.dumps(command, ensure_ascii=False, separators=(",", ":"))
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        with self._mu:
            self._check_open()
            call = self._calls.get(id)
            if call is not None and call.body != body:
                raise ValueError(f"id {id} is already in flight here with another body")
            if call is None:
                call = self._calls[id] = _Call(id, body)
            call.waiters += 1
            ws = self._ws
        if ws is not None:
            self._write(ws, body)
        with self._mu:
            try:
                while True:
                    if call.result is not None:
                        return call.result
                    if call.error is not None:
                        raise call.error
                    if self._closed:
                        raise TezgahError("closed", "the client was closed", id=id)
                    now = time.monotonic()
                    if now >= deadline:
                        raise TezgahError("timeout", "no final result yet; the request may still complete: "
                                          "ask again with the same id", id=id)
                    if call.retry_at is not None and now >= call.retry_at:
                        call.retry_at = None
                        if self._ws is not None:  # else the reconnect sends it
                            ws = self._ws
                            self._mu.release()
                            try:
                                self._write(ws, body)
                            finally:
                                self._mu.acquire()
                        continue
                    until = deadline if call.retry_at is None else min(deadline, call.retry_at)
                    self._mu.wait(until - now)
            finally:
                call.waiters -= 1
                if call.waiters == 0 and self._calls.get(id) is call:
                    del self._calls[id]

    def query(self, id: str, *, timeout: Optional[float] = None) -> dict:
        """The request's latest event (``replay`` true) or TezgahError (not_found)."""
        return self._ask({"type": "query", "id": id},
                         lambda ev: ev.get("id") == id and (ev.get("replay") or ev["type"] == "error"), timeout)

    def cancel(self, id: str, *, timeout: Optional[float] = None) -> dict:
        """Cancel a request not yet sent to the provider: its ``cancelled`` result, or TezgahError."""
        return self._ask({"type": "cancel", "id": id},
                         lambda ev: ev.get("id") == id and ev["type"] in ("result", "error"), timeout)

    def status(self, *, timeout: Optional[float] = None) -> dict:
        return self._ask({"type": "status"}, lambda ev: ev["type"] == "status", timeout)

    def close(self) -> None:
        with self._mu:
            self._closed = True
            ws, self._ws = self._ws, None
            self._mu.notify_all()
        self._stop.set()
        if ws is not None:
            _shutdown(ws)
        self._thread.join(timeout=10)

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def cursor(self) -> Optional[int]:
        with self._mu:
            return self._cursor

    # --- internals --------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise TezgahError("closed", "the client was closed")

    def _ask(self, cmd: dict, match: Callable[[dict], bool], timeout: Optional[float]) -> dict:
        ask = _Ask(json.dumps(cmd, ensure_ascii=False, separators=(",", ":")), match)
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        with self._mu:
            self._check_open()
            self._asks.append(ask)
            ws = self._ws
        try:
            if ws is not None:
                self._write(ws, ask.body)
            with self._mu:
                while ask.answer is None:
                    self._check_open()
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise TezgahError("timeout", f"no answer to {cmd['type']}")
                    self._mu.wait(left)
        finally:
            with self._mu:
                if ask in self._asks:
                    self._asks.remove(ask)
        if ask.answer["type"] == "error":
            e = ask.answer["error"]
            raise TezgahError(e.get("code", ""), e.get("message", ""), e.get("field"), e.get("retry_after_ms"),
                              ask.answer.get("id"))
        return ask.answer

    def _write(self, ws: websocket.WebSocket, body: str) -> None:
        try:
            with self._send_mu:
                ws.send(body)
        except Exception:
            _shutdown(ws)  # the reader notices and reconnects; pending commands are resent then

    def _run(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            ws = None
            try:
                headers = [f"Authorization: Bearer {self.token}"] if self.token else []
                # suppress_origin: a register is not a web page; the agent refuses unknown Origins.
                ws = websocket.create_connection(self.url, timeout=self.connect_timeout, header=headers,
                                                 suppress_origin=True, enable_multithread=True)
                self._session(ws)
            except Exception:
                pass
            finally:
                up = False
                with self._mu:
                    if ws is not None and self._ws is ws:
                        self._ws, up = None, True
                if ws is not None:
                    _shutdown(ws)
                if up and self.on_connection and not self._stop.is_set():
                    _call_back(self.on_connection, False)
            if up:  # it was connected: the next try starts from the shortest wait again
                backoff = 0.5
            # Reconnect backoff: 0.5 s doubling to max_backoff, with jitter.
            self._stop.wait(backoff * random.uniform(0.5, 1.0))
            backoff = min(backoff * 2, self.max_backoff)

    def _session(self, ws: websocket.WebSocket) -> None:
        ws.send(json.dumps({"type": "hello", "register": self.register}))
        ev = _recv(ws)
        if ev["type"] == "hello":
            self.agent = ev
            last_seq = int(ev.get("last_seq", 0))
        elif ev["type"] == "error" and ev["error"].get("code") == "unknown_type":
            # An agent from before hello: this connection is the register "local".
            ws.send('{"type":"status"}')
            while ev["type"] != "status":
                ev = _recv(ws)
            last_seq = int(ev.get("last_seq", 0))
        else:
            # e.g. register_mismatch: this name is not ours on this agent. Every
            # waiting call learns why; the client keeps trying (a pairing may change).
            err = ev.get("error", {})
            refusal = TezgahError(err.get("code", "protocol"), err.get("message", f"hello answered {ev}"),
                                  err.get("field"))
            with self._mu:
                for c in self._calls.values():
                    c.error = refusal
                self._mu.notify_all()
            raise refusal
        with self._mu:
            if self._cursor is None or self._cursor > last_seq:  # first start, or the agent's data was reset
                self._cursor = last_seq
                self._save_cursor()
            since = self._cursor
        ws.send(json.dumps({"type": "resume", "since": since}))
        ws.settimeout(60)  # the agent pings every 20 s: 60 s of silence is a dead connection
        with self._mu:
            self._ws = ws
            resend = [c.body for c in self._calls.values() if not c.accepted]
            ask = [json.dumps({"type": "query", "id": c.id}) for c in self._calls.values() if c.accepted]
            resend += [a.body for a in self._asks]
        if self.on_connection:
            _call_back(self.on_connection, True)
        for body in resend + ask:
            self._write(ws, body)
        while not self._stop.is_set():
            self._handle(_recv(ws))

    def _handle(self, ev: dict) -> None:
        t, id = ev.get("type"), ev.get("id")
        deliver_state = deliver_result = None
        with self._mu:
            for a in self._asks:
                if a.answer is None and a.match(ev) and not (t == "error" and ev["error"].get("code") in RETRY_CODES):
                    a.answer = ev
                    self._mu.notify_all()
                    break
            call = self._calls.get(id) if id is not None else None
            if t in ("accepted", "state", "result") and id is not None:
                if call is not None:
                    call.accepted = True  # stored, possibly a replay: never send it again
                if t == "result":
                    if call is not None:
                        call.result = Result.from_json(ev)
                        self._mu.notify_all()
                    if id not in self._delivered:
                        self._delivered[id] = None
                        if len(self._delivered) > 10000:
                            self._delivered.popitem(last=False)
                        deliver_result = call.result if call is not None else Result.from_json(ev)
                else:
                    seq = ev.get("seq") or 0
                    if call is None or seq > call.shown_seq:
                        if call is not None:
                            call.shown_seq = seq
                        deliver_state = StateEvent.from_json(ev)
            elif t == "error":
                err = ev.get("error", {})
                code = err.get("code", "")
                targets = [call] if call is not None else []
                if id is None and code in RETRY_CODES:
                    targets = [c for c in self._calls.values() if not c.accepted]
                for c in targets:
                    if c.accepted:
                        continue  # the answer to our own follow-up query; the result still comes
                    if code in RETRY_CODES:
                        ms = int(err.get("retry_after_ms") or RETRY_CODES[code] or 1000)
                        c.retry_at = time.monotonic() + ms / 1000
                        self.busy_retries += 1
                        if self.on_busy:
                            _call_back(self.on_busy, c.id, ms)
                    else:
                        c.error = TezgahError(code, err.get("message", ""), err.get("field"),
                                              err.get("retry_after_ms"), id)
                    self._mu.notify_all()
        if deliver_state is not None and self.on_state:
            _call_back(self.on_state, deliver_state)
        if deliver_result is not None and self.on_result:
            _call_back(self.on_result, deliver_result)
        seq = ev.get("seq")
        if isinstance(seq, int) and not ev.get("replay"):
            with self._mu:
                # Moved only after the callbacks ran: a crash in between
                # delivers the event again rather than never.
                if self._cursor is None or seq > self._cursor:
                    self._cursor = seq
                    self._save_cursor()

    def _save_cursor(self) -> None:
        if self.cursor_file and self._cursor is not None:
            write_cursor(self.cursor_file, self._cursor)


def _call_back(fn: Callable[..., None], *args: Any) -> None:
    # A callback that raises must not drop the connection: the event would
    # come again with the resume, raise again, and the register would never
    # get past it. The error is logged instead.
    try:
        fn(*args)
    except Exception:
        log.exception("tezgah: callback %s raised", getattr(fn, "__name__", fn))


def _put(cmd: dict, **opt: Any) -> None:
    for k, v in opt.items():
        if v is not None:
            cmd[k] = v


def _recv(ws: websocket.WebSocket) -> dict:
    while True:
        msg = ws.recv()
        if not msg:
            raise ConnectionError("connection closed")
        if isinstance(msg, str):
            return json.loads(msg)


def _shutdown(ws: websocket.WebSocket) -> None:
    # shutdown(2) first: it wakes a recv blocked in the reader thread, close alone does not.
    try:
        if ws.sock is not None:
            ws.sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        ws.shutdown()
    except Exception:
        pass
