// The client-kit conformance program (CLIENTS-SHAPE.md: one step per
// process). Prints "OK <step> …" or "FAIL <step> <why>" and exits 0 or 1.
//   java -cp build Conformance --url URL --register NAME --cursor FILE --step STEP [--id ID] [--terminal T] [--amount A]
// ACTION, INFLIGHT and BUSY lines tell the runner what happens meanwhile.
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import tr.tezgah.client.TezgahClient;
import tr.tezgah.client.TezgahClient.Result;
import tr.tezgah.client.TezgahException;

public class Conformance {
    static String step = "?";
    static volatile String watched;
    static final AtomicInteger results = new AtomicInteger();
    static volatile boolean inflight;
    static final CountDownLatch accepted = new CountDownLatch(1), collected = new CountDownLatch(1);
    static volatile String lastStatus;

    public static void main(String[] args) {
        Map<String, String> a = new HashMap<>();
        for (int i = 0; i + 1 < args.length; i += 2) a.put(args[i].replaceFirst("^--?", ""), args[i + 1]);
        step = a.getOrDefault("step", "?");
        watched = a.get("id");
        TezgahClient.Options opt = new TezgahClient.Options();
        opt.url = a.getOrDefault("url", opt.url);
        opt.register = a.getOrDefault("register", "conf-java");
        opt.cursorFile = a.containsKey("cursor") ? Path.of(a.get("cursor")) : null;
        opt.callTimeout = Duration.ofSeconds(Long.parseLong(a.getOrDefault("timeout", "180")));
        opt.onState = e -> {
            if ("accepted".equals(e.type) && e.id.equals(watched)) accepted.countDown();
            if ("waiting".equals(e.state) && e.actionUrl != null && e.id.equals(watched)) say("ACTION " + e.actionUrl);
            if (step.equals("kill_restart") && e.id.equals(watched) && "sending".equals(e.state) && !inflight) {
                inflight = true;
                say("INFLIGHT " + e.id);
            }
        };
        opt.onResult = r -> {
            if (!r.id.equals(watched)) return;
            results.incrementAndGet();
            lastStatus = r.status;
            collected.countDown();
        };
        opt.onBusy = (id, ms) -> say("BUSY " + id + " " + ms);
        int rc;
        try (TezgahClient c = new TezgahClient(opt)) {
            String ok = run(c, a);
            say("OK " + step + (ok.isEmpty() ? "" : " " + ok));
            rc = 0;
        } catch (Exception e) {
            say("FAIL " + step + " " + String.valueOf(e.getMessage()).replace('\n', ' '));
            rc = 1;
        }
        System.exit(rc);
    }

    static String run(TezgahClient c, Map<String, String> a) {
        switch (step) {
            case "sale_refund_void_query_eod": {
                Result sale = want(c.sale("kasa-1", "10.00", c.newId()), "approved", "sale");
                want(c.refund("kasa-1", sale.id, "4.00", c.newId()), "approved", "refund");
                Result sale2 = want(c.sale("kasa-1", "5.00", c.newId()), "approved", "second sale");
                want(c.voidSale("kasa-1", sale2.id, c.newId()), "approved", "void");
                TezgahClient.Event q = c.query(sale.id);
                if (!"result".equals(q.type) || !q.replay || !"approved".equals(q.status))
                    throw new IllegalStateException("query: got " + q.json);
                want(c.endOfDay("kasa-1", false, c.newId()), "approved", "end_of_day");
                return "";
            }
            case "paywall_sale":
                want(c.sale("kasa-3", "7.50", c.newId()), "approved", "sale");
                return "";
            case "vomsis_3ds": {
                Map<String, Object> card = new LinkedHashMap<>();
                card.put("number", "4508034508034509");
                card.put("expiry_month", "12");
                card.put("expiry_year", "2031");
                card.put("cvc", "123");
                card.put("holder", "Zeynep Kaya");
                watched = a.getOrDefault("id", c.newId());
                want(c.sale("vpos-1", "12.00", watched, Map.of("card", card)), "approved", "sale");
                return "";
            }
            case "kill_restart": {
                watched = a.getOrDefault("id", c.newId());
                Result r = c.sale("kasa-2", "3.00", watched);
                if (results.get() != 1) throw new IllegalStateException("results delivered for " + watched + ": " + results.get());
                return r.status;
            }
            case "same_id": {
                String id = a.getOrDefault("id", c.newId());
                Result first = want(c.sale("kasa-1", "2.50", id), "approved", "sale");
                Result again = c.sale("kasa-1", "2.50", id);
                if (!again.replay || !again.status.equals(first.status) || again.payment == null
                        || !again.payment.paymentId.equals(first.payment.paymentId))
                    throw new IllegalStateException("same body again: got " + again.event.json);
                try {
                    c.sale("kasa-1", "3.50", id);
                } catch (TezgahException e) {
                    if (e.code.equals("id_conflict")) return "";
                    throw new IllegalStateException("other body: want id_conflict, got " + e.code);
                }
                throw new IllegalStateException("other body: want id_conflict, got a result");
            }
            case "two_registers":
                return want(c.sale("kasa-1", "2.00", a.getOrDefault("id", "R1-1")), "approved", "sale").payment.paymentId;
            case "busy": {
                // expires_in bounds the wait: on the runner's busy terminal nothing is ever sent.
                Map<String, Object> extra = Map.of("expires_in", Long.parseLong(a.getOrDefault("expires-in", "5")));
                Result r = c.sale(a.getOrDefault("terminal", "kasa-1"), a.getOrDefault("amount", "1.00"), a.getOrDefault("id", c.newId()), extra);
                if (c.busyRetries() < 1) throw new IllegalStateException("never answered busy (result " + r.status + ")");
                return String.valueOf(c.busyRetries());
            }
            case "resume_send": {
                // Extra step (not in the shared table): a register that stops right after its
                // sale was accepted. resume_collect, run next with the same --cursor, must get
                // the result through resume alone.
                String id = a.getOrDefault("id", c.newId());
                watched = id;
                Map<String, Object> sale = new LinkedHashMap<>();
                sale.put("type", "sale");
                sale.put("id", id);
                sale.put("terminal", a.getOrDefault("terminal", "kasa-2"));
                sale.put("amount", "6.00");
                c.sendAsync(sale);
                try {
                    if (!accepted.await(60, TimeUnit.SECONDS)) throw new IllegalStateException("not accepted");
                } catch (InterruptedException e) {
                    throw new IllegalStateException(e);
                }
                return id;
            }
            case "resume_collect":
                try {
                    if (!collected.await(Long.parseLong(a.getOrDefault("timeout", "60")), TimeUnit.SECONDS)) throw new IllegalStateException("no result for " + watched + " through resume");
                } catch (InterruptedException e) {
                    throw new IllegalStateException(e);
                }
                if (results.get() != 1) throw new IllegalStateException("results delivered for " + watched + ": " + results.get());
                return watched + " " + lastStatus;
            case "async_chain": {
                // Extra step: a stage chained on sendAsync calls the client's blocking refund;
                // it must not run on the thread that reads the agent's answers.
                Map<String, Object> sale = new LinkedHashMap<>();
                sale.put("type", "sale");
                sale.put("id", c.newId());
                sale.put("terminal", "kasa-1");
                sale.put("amount", "1.50");
                try {
                    Result refund = c.sendAsync(sale).thenApply(r -> c.refund("kasa-1", r.id, "1.50")).get(60, TimeUnit.SECONDS);
                    return want(refund, "approved", "refund").status;
                } catch (java.util.concurrent.TimeoutException e) {
                    throw new IllegalStateException("the chained refund never finished (it ran on the client's thread?)");
                } catch (InterruptedException | java.util.concurrent.ExecutionException e) {
                    throw new IllegalStateException(e);
                }
            }
            default:
                throw new IllegalStateException("unknown step");
        }
    }

    static Result want(Result r, String status, String what) {
        if (!status.equals(r.status))
            throw new IllegalStateException(what + ": want " + status + ", got " + r.status + " " + r.errorCode + " " + r.errorMessage);
        return r;
    }

    static synchronized void say(String line) {
        System.out.println(line);
        System.out.flush();
    }
}
