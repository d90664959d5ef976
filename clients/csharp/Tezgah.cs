// Tezgah: a register's client for the tezgah payment agent (protocol v1,
// docs/protocol.md). It does the money rules once so a register cannot get
// them wrong:
//
//  1. hello first on every connection, with the register's name;
//  2. every command keeps its id and exact body until the agent answers
//     accepted (or a replay); after a reconnect it is sent again, byte for
//     byte, and the agent's idempotency makes that safe;
//  3. the cursor is the highest seq of events without "replay":true, kept in
//     a file written atomically; on reconnect the client sends resume from it;
//  4. after resume it also queries every id it still waits for, which covers
//     a lost cursor file;
//  5. a result is delivered once per id.
//  busy / rate_limited answers are not errors: the same command is sent
//  again after the agent's retry delay (BusyRetries counts those).
//
// Builds with Mono's mcs for .NET Framework 4.x and with current .NET.
using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text;
using System.Threading;
using System.Threading.Tasks;

namespace Tezgah
{
    /// <summary>An answer that ends a call without a result: the protocol's stable code.</summary>
    public sealed class TezgahException : Exception
    {
        /// <summary>Protocol code (id_conflict, invalid_amount, not_found, …) or a client one: timeout, closed.</summary>
        public readonly string Code;
        public readonly string Field;
        public readonly int RetryAfterMs;
        public TezgahException(string code, string field, string message, int retryAfterMs = 0)
            : base(code + (field != null ? " (" + field + ")" : "") + ": " + message)
        { Code = code; Field = field; RetryAfterMs = retryAfterMs; }
    }

    /// <summary>One event from the agent (accepted, state, result, …) with its fields read.</summary>
    public sealed class TezgahEvent
    {
        public string Type, Id, Register, State, Status, ActionUrl, Reason;
        public long Seq = -1;
        public bool Replay;
        public Dictionary<string, object> Fields;
        public string Json;

        internal static TezgahEvent From(string text)
        {
            var f = Tezgah.Json.Parse(text) as Dictionary<string, object>;
            if (f == null) throw new FormatException("json: event is not an object");
            var e = new TezgahEvent { Fields = f, Json = text };
            e.Type = Str(f, "type"); e.Id = Str(f, "id"); e.Register = Str(f, "register");
            e.State = Str(f, "state"); e.Status = Str(f, "status");
            e.ActionUrl = Str(f, "action_url"); e.Reason = Str(f, "reason");
            object v;
            if (f.TryGetValue("seq", out v) && v is JsonNumber) e.Seq = ((JsonNumber)v).ToInt64();
            e.Replay = f.TryGetValue("replay", out v) && v is bool && (bool)v;
            return e;
        }

        internal static string Str(Dictionary<string, object> f, string k)
        {
            object v;
            if (f == null || !f.TryGetValue(k, out v) || v == null) return null;
            return v as string ?? v.ToString();
        }
    }

    public sealed class Payment
    {
        public string Provider, PaymentId, AuthCode, HostReference, Amount, Currency, MaskedPan, BatchNo;
        /// <summary>The provider's details (end-of-day totals, …) as raw JSON, or null.</summary>
        public string Detail;
    }

    /// <summary>The final result of a request: approved, declined, failed, expired or cancelled.</summary>
    public sealed class TezgahResult
    {
        public string Id, Status, ErrorCode, ErrorMessage;
        public long Seq;
        public bool Replay;
        public Payment Payment; // null when the result carries none
        public TezgahEvent Event;
        public bool Approved { get { return Status == "approved"; } }

        internal static TezgahResult From(TezgahEvent e)
        {
            var r = new TezgahResult { Id = e.Id, Status = e.Status, Seq = e.Seq, Replay = e.Replay, Event = e };
            object v;
            if (e.Fields.TryGetValue("payment", out v) && v is Dictionary<string, object>)
            {
                var p = (Dictionary<string, object>)v;
                r.Payment = new Payment
                {
                    Provider = TezgahEvent.Str(p, "provider"), PaymentId = TezgahEvent.Str(p, "payment_id"),
                    AuthCode = TezgahEvent.Str(p, "auth_code"), HostReference = TezgahEvent.Str(p, "host_reference"),
                    Amount = TezgahEvent.Str(p, "amount"), Currency = TezgahEvent.Str(p, "currency"),
                    MaskedPan = TezgahEvent.Str(p, "masked_pan"), BatchNo = TezgahEvent.Str(p, "batch_no"),
                };
                if (p.TryGetValue("detail", out v) && v != null) r.Payment.Detail = Tezgah.Json.Write(v);
            }
            if (e.Fields.TryGetValue("error", out v) && v is Dictionary<string, object>)
            {
                r.ErrorCode = TezgahEvent.Str((Dictionary<string, object>)v, "code");
                r.ErrorMessage = TezgahEvent.Str((Dictionary<string, object>)v, "message");
            }
            return r;
        }
    }

    public sealed class TezgahOptions
    {
        public string Url = "ws://127.0.0.1:8417/v1/ws";
        /// <summary>The register's name: 1–64 of A-Z a-z 0-9 . _ -</summary>
        public string Register;
        /// <summary>Where the resume cursor is kept (optional; without it a restarted register relies on query).</summary>
        public string CursorFile;
        /// <summary>Pairing token for a register on another machine (optional).</summary>
        public string Token;
        /// <summary>How long a send-and-wait call waits for its result.</summary>
        public TimeSpan CallTimeout = TimeSpan.FromMinutes(5);
        public Action<TezgahEvent> OnState;     // accepted and state events (waiting carries ActionUrl)
        public Action<TezgahResult> OnResult;   // every result once, also of requests sent before a restart
        public Action<bool> OnConnection;       // true when connected and resumed, false when lost
        public Action<string, int> OnBusy;      // id, retry delay in ms
    }

    public sealed class TezgahClient : IDisposable
    {
        sealed class Pending
        {
            public string Id, Body;
            public bool Accepted;
            public long LastSeq = -1; // of the last state shown, so a replay of it is not shown twice
            // Continuations never run on the client's thread: code after "await SendAsync"
            // that calls the client again must not block the thread that reads its answers.
            public TaskCompletionSource<TezgahResult> Done =
                new TaskCompletionSource<TezgahResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        readonly TezgahOptions opt;
        readonly Uri uri;
        readonly Thread loop;
        readonly CancellationTokenSource stop = new CancellationTokenSource();
        readonly Random jitter = new Random();

        readonly object mu = new object();
        // guarded by mu:
        ClientWebSocket ws;                                   // the live, resumed connection, or null
        long cursor = -1;                                     // -1: none yet
        readonly Dictionary<string, Pending> pending = new Dictionary<string, Pending>();
        readonly HashSet<string> delivered = new HashSet<string>();
        readonly List<KeyValuePair<Func<TezgahEvent, bool>, TaskCompletionSource<TezgahEvent>>> asks =
            new List<KeyValuePair<Func<TezgahEvent, bool>, TaskCompletionSource<TezgahEvent>>>();

        readonly object sendMu = new object(); // one SendAsync at a time per socket
        int busyRetries;

        /// <summary>How many times a command was sent again after busy or rate_limited.</summary>
        public int BusyRetries { get { return Volatile.Read(ref busyRetries); } }
        public string Register { get { return opt.Register; } }

        public TezgahClient(TezgahOptions options)
        {
            opt = options;
            if (string.IsNullOrEmpty(opt.Register) || opt.Register.Length > 64)
                throw new ArgumentException("Register must be 1-64 of A-Z a-z 0-9 . _ -");
            foreach (char c in opt.Register)
                if (!(char.IsLetterOrDigit(c) && c < 128) && c != '.' && c != '_' && c != '-')
                    throw new ArgumentException("Register must be 1-64 of A-Z a-z 0-9 . _ -");
            uri = new Uri(opt.Url);
            if (opt.CursorFile != null && File.Exists(opt.CursorFile))
                cursor = long.Parse(File.ReadAllText(opt.CursorFile).Trim(), CultureInfo.InvariantCulture);
            loop = new Thread(Run) { IsBackground = true, Name = "tezgah " + opt.Register };
            loop.Start();
        }

        /// <summary>A fresh id: register-yyyyMMddHHmmss-XXXXXX (UTC; the register part cut to keep ids ≤ 64).</summary>
        public string NewId()
        {
            const string b32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
            var rnd = new byte[6];
            using (var rng = RandomNumberGenerator.Create()) rng.GetBytes(rnd);
            var sb = new StringBuilder(opt.Register.Length > 42 ? opt.Register.Substring(0, 42) : opt.Register);
            sb.Append('-').Append(DateTime.UtcNow.ToString("yyyyMMddHHmmss", CultureInfo.InvariantCulture)).Append('-');
            foreach (byte b in rnd) sb.Append(b32[b & 31]);
            return sb.ToString();
        }

        // ---- commands that end in a result ----

        // Storing commands: id null means a fresh NewId(). Keep the id (in the sale's
        // record) before calling when the register must be able to ask for it after a crash.
        public TezgahResult Sale(string terminal, string amount, string id = null, IDictionary<string, object> extra = null)
        {
            return Send(Cmd("sale", id ?? NewId(), extra, "terminal", terminal, "amount", amount));
        }

        public TezgahResult Refund(string terminal, string originalId, string amount, string id = null, IDictionary<string, object> extra = null)
        {
            return Send(Cmd("refund", id ?? NewId(), extra, "terminal", terminal, "original_id", originalId, "amount", amount));
        }

        public TezgahResult Void(string terminal, string originalId, string id = null)
        {
            return Send(Cmd("void", id ?? NewId(), null, "terminal", terminal, "original_id", originalId));
        }

        public TezgahResult EndOfDay(string terminal, bool summary = false, string id = null)
        {
            var extra = new Dictionary<string, object>();
            if (summary) extra["summary"] = true;
            return Send(Cmd("end_of_day", id ?? NewId(), extra, "terminal", terminal));
        }

        /// <summary>Sends any storing command (it must carry an id) and waits for its result.</summary>
        public TezgahResult Send(IDictionary<string, object> command)
        {
            return SendAsync(command).GetAwaiter().GetResult();
        }

        public Task<TezgahResult> SendAsync(IDictionary<string, object> command)
        {
            var id = command["id"] as string;
            if (string.IsNullOrEmpty(id)) throw new ArgumentException("command needs an id");
            var p = new Pending { Id = id, Body = Json.Write(command) };
            ClientWebSocket live;
            lock (mu)
            {
                Pending old;
                if (pending.TryGetValue(id, out old)) return old.Done.Task;
                pending[id] = p;
                live = ws;
            }
            if (live != null) TrySend(live, p.Body);
            var timeout = Task.Delay(opt.CallTimeout, stop.Token);
            return Task.Factory.ContinueWhenAny(new Task[] { p.Done.Task, timeout }, first =>
            {
                if (p.Done.Task.IsCompleted) return p.Done.Task.GetAwaiter().GetResult();
                lock (mu)
                {
                    // Never accepted: nothing is stored, so stop resending. Accepted: keep
                    // following it; its result still comes to OnResult.
                    if (!p.Accepted && pending.ContainsKey(id) && pending[id] == p) pending.Remove(id);
                }
                if (p.Done.Task.IsCompleted) return p.Done.Task.GetAwaiter().GetResult();
                throw new TezgahException(stop.IsCancellationRequested ? "closed" : "timeout", null,
                    "no result for " + id + " within " + opt.CallTimeout + (p.Accepted ? " (accepted: its result will come to OnResult)" : " (never accepted)"));
            });
        }

        // ---- commands answered at once ----

        /// <summary>The request's latest event (a replay), or TezgahException not_found. Follows the request.</summary>
        public TezgahEvent Query(string id) { return Ask(Cmd("query", id, null), e => e.Id == id && (e.Replay || e.Type == "error")); }

        /// <summary>Asks to cancel a request not yet sent; its result (cancelled or real) follows.</summary>
        public void Cancel(string id)
        {
            try { Ask(Cmd("cancel", id, null), e => e.Id == id && (e.Type == "error" || e.Type == "result"), TimeSpan.FromSeconds(10)); }
            catch (TezgahException e) { if (e.Code != "timeout") throw; } // Paywall withdraws without an answer
        }

        public TezgahEvent Status() { return Ask(Cmd("status", null, null), e => e.Type == "status" || (e.Type == "error" && e.Id == null)); }

        TezgahEvent Ask(IDictionary<string, object> cmd, Func<TezgahEvent, bool> match, TimeSpan? timeout = null)
        {
            var tcs = new TaskCompletionSource<TezgahEvent>(TaskCreationOptions.RunContinuationsAsynchronously);
            var entry = new KeyValuePair<Func<TezgahEvent, bool>, TaskCompletionSource<TezgahEvent>>(match, tcs);
            ClientWebSocket live;
            lock (mu) { asks.Add(entry); live = ws; }
            try
            {
                if (live == null || !TrySend(live, Json.Write(cmd)))
                    throw new TezgahException("not_connected", null, "the agent is not reachable now; ask again");
                if (!tcs.Task.Wait(timeout ?? TimeSpan.FromSeconds(30)))
                    throw new TezgahException("timeout", null, "no answer to " + cmd["type"]);
                var e = tcs.Task.Result;
                if (e.Type == "error") throw ErrorOf(e);
                return e;
            }
            finally { lock (mu) asks.Remove(entry); }
        }

        static Dictionary<string, object> Cmd(string type, string id, IDictionary<string, object> extra, params object[] kv)
        {
            var d = new Dictionary<string, object> { { "type", type } };
            if (id != null) d["id"] = id;
            for (int i = 0; i < kv.Length; i += 2) d[(string)kv[i]] = kv[i + 1];
            if (extra != null) foreach (var e in extra) d[e.Key] = e.Value;
            return d;
        }

        // ---- the connection ----

        void Run()
        {
            int backoff = 500;
            while (!stop.IsCancellationRequested)
            {
                var s = new ClientWebSocket();
                bool resumed = false;
                try
                {
                    if (opt.Token != null) s.Options.SetRequestHeader("Authorization", "Bearer " + opt.Token);
                    s.ConnectAsync(uri, stop.Token).Wait();
                    Handshake(s);
                    resumed = true;
                    backoff = 500;
                    Fire(opt.OnConnection, true);
                    string text;
                    while ((text = Receive(s, stop.Token)) != null) Dispatch(TezgahEvent.From(text));
                }
                catch (Exception) { /* connection lost or refused: reconnect below */ }
                lock (mu) if (ws == s) ws = null;
                try { s.Abort(); s.Dispose(); } catch (Exception) { }
                if (resumed && !stop.IsCancellationRequested) Fire(opt.OnConnection, false);
                if (stop.IsCancellationRequested) break;
                int wait;
                lock (jitter) wait = backoff / 2 + jitter.Next(backoff / 2 + 1);
                stop.Token.WaitHandle.WaitOne(wait);
                backoff = Math.Min(backoff * 2, 10000);
            }
        }

        // hello, resume, then every command not yet accepted again and a query for every
        // accepted one still waiting; only then do callers' sends go straight to the socket.
        void Handshake(ClientWebSocket s)
        {
            SendText(s, Json.Write(Cmd("hello", null, null, "register", opt.Register)));
            while (true)
            {
                string text;
                using (var limit = CancellationTokenSource.CreateLinkedTokenSource(stop.Token))
                {
                    limit.CancelAfter(15000); // an agent that never answers hello is not connected
                    text = Receive(s, limit.Token);
                }
                if (text == null) throw new IOException("closed during hello");
                var e = TezgahEvent.From(text);
                if (e.Type == "hello")
                {
                    object v;
                    lock (mu)
                        if (cursor < 0 && e.Fields.TryGetValue("last_seq", out v) && v is JsonNumber)
                            SaveCursor(((JsonNumber)v).ToInt64());
                    break;
                }
                if (e.Type == "error")
                {
                    var err = ErrorOf(e);
                    if (err.Code == "unknown_type") break; // an agent older than hello: we are "local"
                    FailAll(err);                           // wrong name or pairing: no command can go
                    throw err;
                }
            }
            long since;
            lock (mu) since = cursor < 0 ? 0 : cursor;
            SendText(s, Json.Write(Cmd("resume", null, null, "since", since)));
            List<Pending> again;
            lock (mu) { ws = s; again = new List<Pending>(pending.Values); }
            foreach (var p in again)
                SendText(s, p.Accepted ? Json.Write(Cmd("query", p.Id, null)) : p.Body);
        }

        void Dispatch(TezgahEvent e)
        {
            var answered = new List<TaskCompletionSource<TezgahEvent>>();
            Pending p = null;
            bool first = false, seen = false;
            lock (mu)
            {
                foreach (var a in asks) if (a.Key(e)) answered.Add(a.Value);
                if (e.Id != null) pending.TryGetValue(e.Id, out p);
                if (p != null && (e.Type == "accepted" || e.Replay)) p.Accepted = true;
                if (p != null && e.Seq >= 0) { seen = e.Seq <= p.LastSeq; p.LastSeq = Math.Max(p.LastSeq, e.Seq); }
                if (e.Type == "result" && e.Id != null)
                {
                    first = delivered.Add(e.Id);
                    if (p != null) pending.Remove(e.Id);
                }
            }
            foreach (var t in answered) t.TrySetResult(e);

            if ((e.Type == "accepted" || e.Type == "state") && !seen) Fire(opt.OnState, e);
            else if (e.Type == "result" && (first || p != null))
            {
                // A caller waiting on this id always gets its answer (a resend of a finished
                // id is answered by a replay); OnResult hears of each id once.
                var r = TezgahResult.From(e);
                if (first) Fire(opt.OnResult, r);
                if (p != null) p.Done.TrySetResult(r);
            }
            else if (e.Type == "error" && p != null && !p.Accepted && answered.Count == 0)
                OnRefused(p, ErrorOf(e));

            // The cursor moves only after the event was handled, and never on a replay.
            if (e.Seq >= 0 && !e.Replay) lock (mu) if (e.Seq > cursor) SaveCursor(e.Seq);
        }

        void OnRefused(Pending p, TezgahException err)
        {
            int delay;
            if (err.Code == "busy") delay = Math.Max(1, err.RetryAfterMs);
            else if (err.Code == "rate_limited" || err.Code == "unavailable") delay = 1000;
            else if (err.Code == "shutting_down") return; // the reconnect sends it again
            else
            {
                lock (mu) pending.Remove(p.Id);
                p.Done.TrySetException(err);
                return;
            }
            Interlocked.Increment(ref busyRetries);
            Fire(opt.OnBusy, p.Id, delay);
            Task.Delay(delay).ContinueWith(_ =>
            {
                ClientWebSocket live;
                lock (mu) live = pending.ContainsKey(p.Id) && pending[p.Id] == p && !p.Accepted ? ws : null;
                if (live != null) TrySend(live, p.Body);
            });
        }

        void FailAll(TezgahException err)
        {
            List<Pending> all;
            lock (mu) { all = new List<Pending>(pending.Values); pending.Clear(); }
            foreach (var p in all) p.Done.TrySetException(err);
        }

        static TezgahException ErrorOf(TezgahEvent e)
        {
            object v;
            var d = e.Fields.TryGetValue("error", out v) ? v as Dictionary<string, object> : null;
            int retry = 0;
            if (d != null && d.TryGetValue("retry_after_ms", out v) && v is JsonNumber) retry = (int)((JsonNumber)v).ToInt64();
            return new TezgahException(TezgahEvent.Str(d, "code") ?? "unknown", TezgahEvent.Str(d, "field"),
                TezgahEvent.Str(d, "message") ?? "", retry);
        }

        // Atomic: a crash leaves the old cursor or the new one, never half a file.
        void SaveCursor(long seq)
        {
            cursor = seq;
            if (opt.CursorFile == null) return;
            var tmp = opt.CursorFile + ".tmp";
            var bytes = Encoding.ASCII.GetBytes(seq.ToString(CultureInfo.InvariantCulture) + "\n");
            using (var f = new FileStream(tmp, FileMode.Create, FileAccess.Write))
            {
                f.Write(bytes, 0, bytes.Length);
                f.Flush(true);
            }
            if (File.Exists(opt.CursorFile)) File.Replace(tmp, opt.CursorFile, null);
            else File.Move(tmp, opt.CursorFile);
        }

        bool TrySend(ClientWebSocket s, string text)
        {
            try { SendText(s, text); return true; }
            catch (Exception) { try { s.Abort(); } catch (Exception) { } return false; } // Run reconnects and resends
        }

        void SendText(ClientWebSocket s, string text)
        {
            var b = Encoding.UTF8.GetBytes(text);
            lock (sendMu)
                using (var limit = CancellationTokenSource.CreateLinkedTokenSource(stop.Token))
                {
                    limit.CancelAfter(15000); // a peer that stops reading must not hold every sender
                    s.SendAsync(new ArraySegment<byte>(b), WebSocketMessageType.Text, true, limit.Token).Wait();
                }
        }

        static string Receive(ClientWebSocket s, CancellationToken ct)
        {
            var buf = new byte[16384];
            var msg = new MemoryStream();
            while (true)
            {
                var r = s.ReceiveAsync(new ArraySegment<byte>(buf), ct).Result;
                if (r.MessageType == WebSocketMessageType.Close) return null;
                msg.Write(buf, 0, r.Count);
                if (msg.Length > 1 << 20) throw new IOException("frame over 1 MiB");
                if (r.EndOfMessage) return Encoding.UTF8.GetString(msg.ToArray());
            }
        }

        static void Fire<T>(Action<T> cb, T v) { if (cb != null) try { cb(v); } catch (Exception) { } }
        static void Fire<T, U>(Action<T, U> cb, T v, U w) { if (cb != null) try { cb(v, w); } catch (Exception) { } }

        /// <summary>Stops reconnecting and closes the connection. Requests already accepted still finish at the agent.</summary>
        public void Dispose()
        {
            stop.Cancel();
            ClientWebSocket s;
            lock (mu) s = ws;
            if (s != null) try { s.Abort(); } catch (Exception) { }
            loop.Join(2000);
        }
    }
}
