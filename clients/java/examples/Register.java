// An example register: a sale, then a refund of it, printing what the
// cashier sees. Restart the agent in the middle: the client reconnects,
// resumes and the result still arrives.
//   java -cp build Register --url ws://127.0.0.1:8417/v1/ws --register kasa-pc-1 --terminal kasa-1 --amount 150.00
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import tr.tezgah.client.TezgahClient;
import tr.tezgah.client.TezgahClient.Result;

public class Register {
    public static void main(String[] args) throws Exception {
        Map<String, String> a = new HashMap<>();
        for (int i = 0; i + 1 < args.length; i += 2) a.put(args[i].replaceFirst("^--?", ""), args[i + 1]);
        String terminal = a.getOrDefault("terminal", "kasa-1"), amount = a.getOrDefault("amount", "150.00");
        String prefix = "[" + terminal + "] ";

        TezgahClient.Options opt = new TezgahClient.Options();
        opt.url = a.getOrDefault("url", opt.url);
        opt.register = a.getOrDefault("register", "kasa-pc-1");
        opt.cursorFile = Path.of(opt.register + ".cursor");
        opt.onConnection = up -> System.out.println(up ? "(connected to the agent)" : "(agent not reachable: reconnecting…)");
        opt.onState = e -> {
            switch (String.valueOf(e.state)) {
                case "queued": System.out.println(prefix + "queued" + (e.reason != null ? " (" + e.reason + "), will try again" : "") + "…"); break;
                case "sending": System.out.println(prefix + "waiting for card…"); break;
                case "waiting": System.out.println(prefix + "customer must confirm on this page: " + e.actionUrl); break;
                case "unknown": System.out.println(prefix + "checking with the bank (unknown)…"); break;
                default:
            }
        };
        int rc;
        try (TezgahClient client = new TezgahClient(opt)) {
            System.out.println(prefix + "Sale " + amount + " TRY: sending…");
            Result sale = client.sale(terminal, amount, client.newId());
            show(prefix, sale);
            rc = 1;
            if (sale.approved()) {
                System.out.println(prefix + "Refund " + amount + " TRY of " + sale.id + ": sending…");
                Result refund = client.refund(terminal, sale.id, amount, client.newId());
                show(prefix, refund);
                rc = refund.approved() ? 0 : 1;
            }
        }
        System.exit(rc);
    }

    static void show(String prefix, Result r) {
        if (r.approved())
            System.out.println(prefix + "APPROVED" + (r.payment.authCode != null ? " auth " + r.payment.authCode : "")
                    + (r.payment.maskedPan != null ? " card " + r.payment.maskedPan : "") + " (id " + r.id + ")");
        else
            System.out.println(prefix + r.status.toUpperCase() + ": " + r.errorMessage + " [" + r.errorCode + "]");
    }
}
