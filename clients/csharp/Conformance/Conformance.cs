// The client-kit conformance program (clients/CLIENTS-SHAPE: one step per
// process). Prints "OK <step> …" or "FAIL <step> <why>" and exits 0 or 1.
//   mono Conformance.exe --url URL --register NAME --cursor FILE --step STEP [--id ID] [--terminal T] [--amount A]
// ACTION, INFLIGHT and BUSY lines tell the runner what happens meanwhile.
using System;
using System.Collections.Generic;
using System.Threading;
using Tezgah;

static class Conformance
{
    static string step = "?";
    static Action<TezgahEvent> Accepted;
    static readonly ManualResetEventSlim Collected = new ManualResetEventSlim();
    static volatile string LastStatus;

    static int Main(string[] args)
    {
        var a = new Dictionary<string, string>();
        for (int i = 0; i + 1 < args.Length; i += 2) a[args[i].TrimStart('-')] = args[i + 1];
        step = Arg(a, "step", "?");
        int results = 0;
        bool inflight = false;
        string watched = Arg(a, "id", null);
        var opt = new TezgahOptions
        {
            Url = Arg(a, "url", "ws://127.0.0.1:8417/v1/ws"),
            Register = Arg(a, "register", "conf-csharp"),
            CursorFile = Arg(a, "cursor", null),
            CallTimeout = TimeSpan.FromSeconds(double.Parse(Arg(a, "timeout", "180"))),
            OnState = e =>
            {
                if (Accepted != null) Accepted(e);
                if (e.State == "waiting" && e.ActionUrl != null && e.Id == watched) Say("ACTION " + e.ActionUrl);
                if (step == "kill_restart" && e.Id == watched && e.State == "sending" && !inflight)
                {
                    inflight = true;
                    Say("INFLIGHT " + e.Id);
                }
            },
            OnResult = r =>
            {
                if (r.Id != watched) return;
                Interlocked.Increment(ref results);
                LastStatus = r.Status;
                Collected.Set();
            },
            OnBusy = (id, ms) => Say("BUSY " + id + " " + ms),
        };
        try
        {
            using (var c = new TezgahClient(opt))
            {
                string ok = Run(c, a, ref watched, () => Volatile.Read(ref results));
                Say("OK " + step + (ok.Length > 0 ? " " + ok : ""));
                return 0;
            }
        }
        catch (Exception e)
        {
            Say("FAIL " + step + " " + e.Message.Replace('\n', ' '));
            return 1;
        }
    }

    static string Run(TezgahClient c, Dictionary<string, string> a, ref string watched, Func<int> results)
    {
        switch (step)
        {
            case "sale_refund_void_query_eod":
            {
                var sale = Want(c.Sale("kasa-1", "10.00", c.NewId()), "approved", "sale");
                Want(c.Refund("kasa-1", sale.Id, "4.00", c.NewId()), "approved", "refund");
                var sale2 = Want(c.Sale("kasa-1", "5.00", c.NewId()), "approved", "second sale");
                Want(c.Void("kasa-1", sale2.Id, c.NewId()), "approved", "void");
                var q = c.Query(sale.Id);
                if (q.Type != "result" || !q.Replay || q.Status != "approved")
                    throw new Exception("query: got " + q.Json);
                Want(c.EndOfDay("kasa-1", false, c.NewId()), "approved", "end_of_day");
                return "";
            }
            case "paywall_sale":
                Want(c.Sale("kasa-3", "7.50", c.NewId()), "approved", "sale");
                return "";
            case "vomsis_3ds":
            {
                var card = new Dictionary<string, object>
                {
                    { "card", new Dictionary<string, object> {
                        { "number", "4508034508034509" }, { "expiry_month", "12" }, { "expiry_year", "2031" },
                        { "cvc", "123" }, { "holder", "Zeynep Kaya" } } },
                };
                watched = Arg(a, "id", null) ?? c.NewId();
                Want(c.Sale("vpos-1", "12.00", watched, card), "approved", "sale");
                return "";
            }
            case "kill_restart":
            {
                var id = Arg(a, "id", null) ?? c.NewId();
                watched = id;
                var r = c.Sale("kasa-2", "3.00", id);
                if (results() != 1) throw new Exception("results delivered for " + id + ": " + results());
                return r.Status;
            }
            case "same_id":
            {
                var id = Arg(a, "id", null) ?? c.NewId();
                var first = Want(c.Sale("kasa-1", "2.50", id), "approved", "sale");
                var again = c.Sale("kasa-1", "2.50", id);
                if (!again.Replay || again.Status != first.Status || again.Payment == null || again.Payment.PaymentId != first.Payment.PaymentId)
                    throw new Exception("same body again: got " + again.Event.Json);
                try { c.Sale("kasa-1", "3.50", id); }
                catch (TezgahException e)
                {
                    if (e.Code == "id_conflict") return "";
                    throw new Exception("other body: want id_conflict, got " + e.Code);
                }
                throw new Exception("other body: want id_conflict, got a result");
            }
            case "two_registers":
            {
                var r = Want(c.Sale("kasa-1", "2.00", Arg(a, "id", "R1-1")), "approved", "sale");
                return r.Payment.PaymentId;
            }
            case "busy":
            {
                // expires_in bounds the wait: on the runner's busy terminal nothing is ever sent.
                var extra = new Dictionary<string, object> { { "expires_in", long.Parse(Arg(a, "expires-in", "5")) } };
                var r = c.Sale(Arg(a, "terminal", "kasa-1"), Arg(a, "amount", "1.00"), Arg(a, "id", null) ?? c.NewId(), extra);
                if (c.BusyRetries < 1) throw new Exception("never answered busy (result " + r.Status + ")");
                return c.BusyRetries.ToString();
            }
            case "resume_send":
            {
                // Extra step (not in the shared table): a register that stops right after its
                // sale was accepted. resume_collect, run next with the same --cursor, must get
                // the result through resume alone.
                var accepted = new ManualResetEventSlim();
                var id = Arg(a, "id", null) ?? c.NewId();
                watched = id;
                Accepted = e => { if (e.Id == id && e.Type == "accepted") accepted.Set(); };
                c.SendAsync(new Dictionary<string, object> {
                    { "type", "sale" }, { "id", id }, { "terminal", Arg(a, "terminal", "kasa-2") }, { "amount", "6.00" } });
                if (!accepted.Wait(TimeSpan.FromSeconds(60))) throw new Exception("not accepted");
                return id;
            }
            case "resume_collect":
            {
                if (!Collected.Wait(TimeSpan.FromSeconds(double.Parse(Arg(a, "timeout", "60"))))) throw new Exception("no result for " + watched + " through resume");
                if (results() != 1) throw new Exception("results delivered for " + watched + ": " + results());
                return watched + " " + LastStatus;
            }
            default:
                throw new Exception("unknown step");
        }
    }

    static TezgahResult Want(TezgahResult r, string status, string what)
    {
        if (r.Status != status)
            throw new Exception(what + ": want " + status + ", got " + r.Status + " " + r.ErrorCode + " " + r.ErrorMessage);
        return r;
    }

    static string Arg(Dictionary<string, string> a, string k, string def) { string v; return a.TryGetValue(k, out v) ? v : def; }

    static readonly object outMu = new object();
    static void Say(string line) { lock (outMu) { Console.Out.WriteLine(line); Console.Out.Flush(); } }
}
