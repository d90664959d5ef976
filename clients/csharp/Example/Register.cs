// An example register: a sale, then a refund of it, printing what the
// cashier sees. Restart the agent in the middle: the client reconnects,
// resumes and the result still arrives.
//   mono Register.exe --url ws://127.0.0.1:8417/v1/ws --register kasa-pc-1 --terminal kasa-1 --amount 150.00
using System;
using System.Collections.Generic;
using Tezgah;

static class Register
{
    static int Main(string[] args)
    {
        var a = new Dictionary<string, string>();
        for (int i = 0; i + 1 < args.Length; i += 2) a[args[i].TrimStart('-')] = args[i + 1];
        string url = Get(a, "url", "ws://127.0.0.1:8417/v1/ws"), name = Get(a, "register", "kasa-pc-1");
        string terminal = Get(a, "terminal", "kasa-1"), amount = Get(a, "amount", "150.00");
        string prefix = "[" + terminal + "] ";

        var client = new TezgahClient(new TezgahOptions
        {
            Url = url,
            Register = name,
            CursorFile = name + ".cursor",
            OnConnection = up => Console.WriteLine(up ? "(connected to the agent)" : "(agent not reachable: reconnecting…)"),
            OnState = e =>
            {
                switch (e.State)
                {
                    case "queued": Console.WriteLine(prefix + "queued" + (e.Reason != null ? " (" + e.Reason + "), will try again" : "") + "…"); break;
                    case "sending": Console.WriteLine(prefix + "waiting for card…"); break;
                    case "waiting": Console.WriteLine(prefix + "customer must confirm on this page: " + e.ActionUrl); break;
                    case "unknown": Console.WriteLine(prefix + "checking with the bank (unknown)…"); break;
                }
            },
        });
        using (client)
        {
            Console.WriteLine(prefix + "Sale " + amount + " TRY: sending…");
            var sale = client.Sale(terminal, amount, client.NewId());
            Show(prefix, sale);
            if (!sale.Approved) return 1;

            Console.WriteLine(prefix + "Refund " + amount + " TRY of " + sale.Id + ": sending…");
            var refund = client.Refund(terminal, sale.Id, amount, client.NewId());
            Show(prefix, refund);
            return refund.Approved ? 0 : 1;
        }
    }

    static void Show(string prefix, TezgahResult r)
    {
        if (r.Approved)
            Console.WriteLine(prefix + "APPROVED" + (r.Payment.AuthCode != null ? " auth " + r.Payment.AuthCode : "") +
                (r.Payment.MaskedPan != null ? " card " + r.Payment.MaskedPan : "") + " (id " + r.Id + ")");
        else
            Console.WriteLine(prefix + r.Status.ToUpperInvariant() + ": " + r.ErrorMessage + " [" + r.ErrorCode + "]");
    }

    static string Get(Dictionary<string, string> a, string k, string def) { string v; return a.TryGetValue(k, out v) ? v : def; }
}
