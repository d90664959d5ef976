package tr.tezgah.client;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.WebSocket;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.SecureRandom;
import java.time.Duration;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BiConsumer;
import java.util.function.Consumer;
import java.util.function.Predicate;

/**
 * A register's client for the tezgah payment agent (protocol v1,
 * docs/protocol.md). It does the money rules once so a register cannot get
 * them wrong:
 * <ol>
 * <li>hello first on every connection, with the register's name;</li>
 * <li>every command keeps its id and exact body until the agent answers
 * accepted (or a replay); after a reconnect it is sent again, byte for byte;
 * the agent's idempotency makes that safe;</li>
 * <li>the cursor is the highest seq of events without "replay":true, kept in
 * a file written atomically; on reconnect the client sends resume from it;</li>
 * <li>after resume it also queries every id it still waits for, which covers
 * a lost cursor file;</li>
 * <li>a result is delivered once per id.</li>
 * </ol>
 * busy / rate_limited answers are not errors: the same command is sent again
 * after the agent's retry delay ({@link #busyRetries()} counts those).
 */
public final class TezgahClient implements AutoCloseable {

    /** Settings; only {@code register} is required. */
    public static final class Options {
        public String url = "ws://127.0.0.1:8417/v1/ws";
        /** The register's name: 1–64 of A-Z a-z 0-9 . _ - */
        public String register;
        /** Where the resume cursor is kept (optional). */
        public Path cursorFile;
        /** Pairing token for a register on another machine (optional). */
        public String token;
        /** How long a send-and-wait call waits for its result. */
        public Duration callTimeout = Duration.ofMinutes(5);
        public Consumer<Event> onState = e -> {};      // accepted and state (waiting carries actionUrl)
        public Consumer<Result> onResult = r -> {};    // every result once, also of requests sent before a restart
        public Consumer<Boolean> onConnection = up -> {};
        public BiConsumer<String, Integer> onBusy = (id, ms) -> {}; // refused busy: sent again after ms
    }

    /** One event from the agent with its common fields read; {@code fields} has all of them. */
    public static final class Event {
        public final String type, id, register, state, status, actionUrl, reason, json;
        public final long seq;
        public final boolean replay;
        public final Map<String, Object> fields;

        @SuppressWarnings("unchecked")
        Event(String text) {
            Object v = Json.parse(text);
            if (!(v instanceof Map)) throw new IllegalArgumentException("json: event is not an object");
            fields = (Map<String, Object>) v;
            json = text;
            type = str(fields, "type"); id = str(fields, "id"); register = str(fields, "register");
            state = str(fields, "state"); status = str(fields, "status");
            actionUrl = str(fields, "action_url"); reason = str(fields, "reason");
            seq = fields.get("seq") instanceof Json.Num ? ((Json.Num) fields.get("seq")).longValue() : -1;
            replay = Boolean.TRUE.equals(fields.get("replay"));
        }
    }

    public static final class Payment {
        public String provider, paymentId, authCode, hostReference, amount, currency, maskedPan, batchNo;
        /** The provider's details (end-of-day totals, …) as raw JSON, or null. */
        public String detail;
    }

    /** The final result of a request: approved, declined, failed, expired or cancelled. */
    public static final class Result {
        public final String id, status;
        public final long seq;
        public final boolean replay;
        public final Payment payment;        // null when the result carries none
        public final String errorCode, errorMessage;
        public final Event event;

        @SuppressWarnings("unchecked")
        Result(Event e) {
            id = e.id; status = e.status; seq = e.seq; replay = e.replay; event = e;
            Object p = e.fields.get("payment");
            if (p instanceof Map) {
                Map<String, Object> m = (Map<String, Object>) p;
                payment = new Payment();
                payment.provider = str(m, "provider"); payment.paymentId = str(m, "payment_id");
                payment.authCode = str(m, "auth_code"); payment.hostReference = str(m, "host_reference");
                payment.amount = str(m, "amount"); payment.currency = str(m, "currency");
                payment.maskedPan = str(m, "masked_pan"); payment.batchNo = str(m, "batch_no");
                payment.detail = m.get("detail") != null ? Json.write(m.get("detail")) : null;
            } else payment = null;
            Object err = e.fields.get("error");
            errorCode = err instanceof Map ? str((Map<String, Object>) err, "code") : null;
            errorMessage = err instanceof Map ? str((Map<String, Object>) err, "message") : null;
        }

        public boolean approved() { return "approved".equals(status); }
    }

    private static final class Pending {
        final String id, body;
        volatile boolean accepted;
        long lastSeq = -1; // of the last state shown, so a replay of it is not shown twice (guarded by mu)
        final CompletableFuture<Result> done = new CompletableFuture<>();
        Pending(String id, String body) { this.id = id; this.body = body; }
    }

    private static final class Ask {
        final Predicate<Event> match;
        final CompletableFuture<Event> answer = new CompletableFuture<>();
        Ask(Predicate<Event> match) { this.match = match; }
    }

    private static final String CLOSED = "\u0000closed"; // queue marker: the connection ended

    private final Options opt;
    private final HttpClient http = HttpClient.newHttpClient();
    private final Thread loop;
    private volatile boolean stopped;
    private final AtomicInteger busyRetries = new AtomicInteger();

    private final Object mu = new Object();
    // guarded by mu:
    private WebSocket ws;                   // the live, resumed connection, or null
    private long cursor = -1;               // -1: none yet
    private final Map<String, Pending> pending = new LinkedHashMap<>();
    private final Set<String> delivered = new HashSet<>();
    private final List<Ask> asks = new ArrayList<>();

    private final Object sendMu = new Object(); // one sendText at a time per socket

    /** Starts connecting in the background; calls wait until the agent is reachable. */
    public TezgahClient(Options options) {
        opt = options;
        if (opt.register == null || !opt.register.matches("[A-Za-z0-9._-]{1,64}"))
            throw new IllegalArgumentException("register must be 1-64 of A-Z a-z 0-9 . _ -");
        try {
            if (opt.cursorFile != null && Files.exists(opt.cursorFile))
                cursor = Long.parseLong(Files.readString(opt.cursorFile).trim());
        } catch (IOException e) {
            throw new UncheckedIOException("tezgah: read cursor " + opt.cursorFile, e);
        }
        loop = new Thread(this::run, "tezgah " + opt.register);
        loop.setDaemon(true);
        loop.start();
    }

    /** How many times a command was sent again after busy or rate_limited. */
    public int busyRetries() { return busyRetries.get(); }

    public String register() { return opt.register; }

    /** A fresh id: register-yyyyMMddHHmmss-XXXXXX (UTC; the register part cut to keep ids ≤ 64). */
    public String newId() {
        String b32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        byte[] rnd = new byte[6];
        new SecureRandom().nextBytes(rnd);
        StringBuilder sb = new StringBuilder(opt.register.length() > 42 ? opt.register.substring(0, 42) : opt.register);
        sb.append('-').append(ZonedDateTime.now(ZoneOffset.UTC).format(DateTimeFormatter.ofPattern("yyyyMMddHHmmss"))).append('-');
        for (byte b : rnd) sb.append(b32.charAt(b & 31));
        return sb.toString();
    }

    // ---- commands that end in a result ----

    // Storing commands: id null means a fresh newId(). Keep the id (in the sale's record)
    // before calling when the register must be able to ask for it after a crash.

    public Result sale(String terminal, String amount, String id, Map<String, Object> extra) {
        return send(cmd("sale", orNew(id), extra, "terminal", terminal, "amount", amount));
    }

    public Result sale(String terminal, String amount, String id) { return sale(terminal, amount, id, null); }

    public Result sale(String terminal, String amount) { return sale(terminal, amount, null, null); }

    public Result refund(String terminal, String originalId, String amount, String id) {
        return send(cmd("refund", orNew(id), null, "terminal", terminal, "original_id", originalId, "amount", amount));
    }

    public Result refund(String terminal, String originalId, String amount) { return refund(terminal, originalId, amount, null); }

    public Result voidSale(String terminal, String originalId, String id) {
        return send(cmd("void", orNew(id), null, "terminal", terminal, "original_id", originalId));
    }

    public Result voidSale(String terminal, String originalId) { return voidSale(terminal, originalId, null); }

    public Result endOfDay(String terminal, boolean summary, String id) {
        return send(cmd("end_of_day", orNew(id), summary ? Map.of("summary", true) : null, "terminal", terminal));
    }

    public Result endOfDay(String terminal) { return endOfDay(terminal, false, null); }

    private String orNew(String id) { return id != null ? id : newId(); }

    /** Sends any storing command (it must carry an id) and waits for its result. */
    public Result send(Map<String, Object> command) {
        String id = (String) command.get("id");
        Pending p = track(command);
        try {
            return p.done.get(opt.callTimeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            throw (TezgahException) e.getCause();
        } catch (InterruptedException | TimeoutException e) {
            if (e instanceof InterruptedException) Thread.currentThread().interrupt();
            synchronized (mu) {
                // Never accepted: nothing is stored, so stop resending. Accepted: keep
                // following it; its result still comes to onResult.
                if (!p.accepted && pending.get(id) == p) pending.remove(id);
            }
            if (p.done.isDone()) return p.done.join();
            throw new TezgahException(stopped ? "closed" : "timeout", null, "no result for " + id + " within "
                    + opt.callTimeout + (p.accepted ? " (accepted: its result will come to onResult)" : " (never accepted)"), 0);
        }
    }

    /**
     * Sends without waiting; the future completes with the result or a TezgahException.
     * Its dependent stages run on the common pool, never on the client's thread, so they
     * may call the client's blocking methods.
     */
    public CompletableFuture<Result> sendAsync(Map<String, Object> command) {
        return track(command).done.thenApplyAsync(r -> r);
    }

    private Pending track(Map<String, Object> command) {
        String id = (String) command.get("id");
        if (id == null || id.isEmpty()) throw new IllegalArgumentException("command needs an id");
        if (stopped) throw new TezgahException("closed", null, "the client is closed", 0);
        Pending p = new Pending(id, Json.write(command));
        WebSocket live;
        synchronized (mu) {
            Pending old = pending.get(id);
            if (old != null) return old;
            pending.put(id, p);
            live = ws;
        }
        if (live != null) trySend(live, p.body);
        return p;
    }

    // ---- commands answered at once ----

    /** The request's latest event (a replay), or TezgahException not_found. The connection follows the request. */
    public Event query(String id) {
        return ask(cmd("query", id, null), e -> id.equals(e.id) && (e.replay || "error".equals(e.type)), Duration.ofSeconds(30));
    }

    /** Asks to cancel a request not yet sent; its result (cancelled or the real one) follows. */
    public void cancel(String id) {
        try {
            ask(cmd("cancel", id, null), e -> id.equals(e.id) && ("error".equals(e.type) || "result".equals(e.type)), Duration.ofSeconds(10));
        } catch (TezgahException e) {
            if (!e.code.equals("timeout")) throw e; // Paywall withdraws without an answer
        }
    }

    public Event status() {
        return ask(cmd("status", null, null), e -> "status".equals(e.type) || ("error".equals(e.type) && e.id == null), Duration.ofSeconds(30));
    }

    private Event ask(Map<String, Object> command, Predicate<Event> match, Duration timeout) {
        Ask a = new Ask(match);
        WebSocket live;
        synchronized (mu) { asks.add(a); live = ws; }
        try {
            if (live == null || !trySend(live, Json.write(command)))
                throw new TezgahException("not_connected", null, "the agent is not reachable now; ask again", 0);
            Event e;
            try {
                e = a.answer.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
            } catch (InterruptedException | ExecutionException | TimeoutException x) {
                throw new TezgahException("timeout", null, "no answer to " + command.get("type"), 0);
            }
            if ("error".equals(e.type)) throw errorOf(e);
            return e;
        } finally {
            synchronized (mu) { asks.remove(a); }
        }
    }

    private static Map<String, Object> cmd(String type, String id, Map<String, Object> extra, Object... kv) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("type", type);
        if (id != null) m.put("id", id);
        for (int i = 0; i < kv.length; i += 2) m.put((String) kv[i], kv[i + 1]);
        if (extra != null) m.putAll(extra);
        return m;
    }

    // ---- the connection ----

    private void run() {
        int backoff = 500;
        while (!stopped) {
            LinkedBlockingQueue<String> in = new LinkedBlockingQueue<>();
            WebSocket s = null;
            boolean resumed = false;
            try {
                WebSocket.Builder b = http.newWebSocketBuilder().connectTimeout(Duration.ofSeconds(10));
                if (opt.token != null) b.header("Authorization", "Bearer " + opt.token);
                s = b.buildAsync(URI.create(opt.url), new Listener(in)).get(15, TimeUnit.SECONDS);
                handshake(s, in);
                resumed = true;
                backoff = 500;
                opt.onConnection.accept(true);
                String text;
                while ((text = in.take()) != CLOSED) dispatch(new Event(text));
            } catch (Exception e) {
                // connection lost or refused: reconnect below
            }
            synchronized (mu) { if (ws == s) ws = null; }
            if (s != null) s.abort();
            if (resumed && !stopped) opt.onConnection.accept(false);
            if (stopped) break;
            try {
                Thread.sleep(backoff / 2 + ThreadLocalRandom.current().nextInt(backoff / 2 + 1));
            } catch (InterruptedException e) {
                break;
            }
            backoff = Math.min(backoff * 2, 10000);
        }
    }

    // Turns the listener's callbacks into whole text messages on a queue read by run().
    private static final class Listener implements WebSocket.Listener {
        private final LinkedBlockingQueue<String> in;
        private final StringBuilder part = new StringBuilder();
        Listener(LinkedBlockingQueue<String> in) { this.in = in; }

        @Override public CompletionStage<?> onText(WebSocket w, CharSequence data, boolean last) {
            part.append(data);
            if (part.length() > 1 << 20) { w.abort(); in.add(CLOSED); return null; }
            if (last) { in.add(part.toString()); part.setLength(0); }
            w.request(1);
            return null;
        }
        @Override public CompletionStage<?> onClose(WebSocket w, int code, String reason) { in.add(CLOSED); return null; }
        @Override public void onError(WebSocket w, Throwable error) { in.add(CLOSED); }
    }

    // hello, resume, then every command not yet accepted again and a query for every
    // accepted one still waiting; only then do callers' sends go straight to the socket.
    private void handshake(WebSocket s, LinkedBlockingQueue<String> in) throws Exception {
        sendText(s, Json.write(cmd("hello", null, null, "register", opt.register)));
        while (true) {
            String text = in.poll(15, TimeUnit.SECONDS);
            if (text == null || text == CLOSED) throw new IOException("no answer to hello");
            Event e = new Event(text);
            if ("hello".equals(e.type)) {
                synchronized (mu) {
                    if (cursor < 0 && e.fields.get("last_seq") instanceof Json.Num)
                        saveCursor(((Json.Num) e.fields.get("last_seq")).longValue());
                }
                break;
            }
            if ("error".equals(e.type)) {
                TezgahException err = errorOf(e);
                if (err.code.equals("unknown_type")) break; // an agent older than hello: we are "local"
                failAll(err);                               // wrong name or pairing: no command can go
                throw err;
            }
        }
        long since;
        synchronized (mu) { since = Math.max(cursor, 0); }
        sendText(s, Json.write(cmd("resume", null, null, "since", since)));
        List<Pending> again;
        synchronized (mu) { ws = s; again = new ArrayList<>(pending.values()); }
        for (Pending p : again) sendText(s, p.accepted ? Json.write(cmd("query", p.id, null)) : p.body);
    }

    private void dispatch(Event e) throws IOException {
        List<Ask> answered = new ArrayList<>();
        Pending p;
        boolean first = false, seen = false;
        synchronized (mu) {
            for (Ask a : asks) if (a.match.test(e)) answered.add(a);
            p = e.id != null ? pending.get(e.id) : null;
            if (p != null && ("accepted".equals(e.type) || e.replay)) p.accepted = true;
            if (p != null && e.seq >= 0) {
                seen = e.seq <= p.lastSeq;
                p.lastSeq = Math.max(p.lastSeq, e.seq);
            }
            if ("result".equals(e.type) && e.id != null) {
                first = delivered.add(e.id);
                if (p != null) pending.remove(e.id);
            }
        }
        for (Ask a : answered) a.answer.complete(e);

        if (("accepted".equals(e.type) || "state".equals(e.type)) && !seen) opt.onState.accept(e);
        else if ("result".equals(e.type) && (first || p != null)) {
            // A caller waiting on this id always gets its answer (a resend of a finished
            // id is answered by a replay); onResult hears of each id once.
            Result r = new Result(e);
            if (first) opt.onResult.accept(r);
            if (p != null) p.done.complete(r);
        } else if ("error".equals(e.type) && p != null && !p.accepted && answered.isEmpty()) {
            refused(p, errorOf(e));
        }

        // The cursor moves only after the event was handled, and never on a replay.
        if (e.seq >= 0 && !e.replay) synchronized (mu) { if (e.seq > cursor) saveCursor(e.seq); }
    }

    private void refused(Pending p, TezgahException err) {
        int delay;
        switch (err.code) {
            case "busy": delay = Math.max(1, err.retryAfterMs); break;
            case "rate_limited": case "unavailable": delay = 1000; break;
            case "shutting_down": return; // the reconnect sends it again
            default:
                synchronized (mu) { pending.remove(p.id); }
                p.done.completeExceptionally(err);
                return;
        }
        busyRetries.incrementAndGet();
        opt.onBusy.accept(p.id, delay);
        CompletableFuture.delayedExecutor(delay, TimeUnit.MILLISECONDS).execute(() -> {
            WebSocket live;
            synchronized (mu) { live = pending.get(p.id) == p && !p.accepted ? ws : null; }
            if (live != null) trySend(live, p.body);
        });
    }

    private void failAll(TezgahException err) {
        List<Pending> all;
        synchronized (mu) { all = new ArrayList<>(pending.values()); pending.clear(); }
        for (Pending p : all) p.done.completeExceptionally(err);
    }

    @SuppressWarnings("unchecked")
    private static TezgahException errorOf(Event e) {
        Map<String, Object> d = e.fields.get("error") instanceof Map ? (Map<String, Object>) e.fields.get("error") : Map.of();
        Object retry = d.get("retry_after_ms");
        String code = str(d, "code"), message = str(d, "message");
        return new TezgahException(code != null ? code : "unknown", str(d, "field"), message != null ? message : "",
                retry instanceof Json.Num ? (int) ((Json.Num) retry).longValue() : 0);
    }

    // Atomic: a crash leaves the old cursor or the new one, never half a file.
    private void saveCursor(long seq) throws IOException {
        cursor = seq;
        if (opt.cursorFile == null) return;
        Path tmp = opt.cursorFile.resolveSibling(opt.cursorFile.getFileName() + ".tmp");
        try (FileChannel f = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            f.write(StandardCharsets.US_ASCII.encode(seq + "\n"));
            f.force(true);
        }
        Files.move(tmp, opt.cursorFile, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    private boolean trySend(WebSocket s, String text) {
        try {
            sendText(s, text);
            return true;
        } catch (Exception e) {
            s.abort(); // run() reconnects and sends it again
            return false;
        }
    }

    private void sendText(WebSocket s, String text) throws Exception {
        synchronized (sendMu) {
            s.sendText(text, true).get(15, TimeUnit.SECONDS);
        }
    }

    private static String str(Map<String, Object> m, String k) {
        Object v = m.get(k);
        return v == null ? null : v.toString();
    }

    /** Stops reconnecting and closes the connection. Requests already accepted still finish at the agent. */
    @Override
    public void close() {
        stopped = true;
        WebSocket s;
        synchronized (mu) { s = ws; }
        if (s != null) s.abort();
        loop.interrupt();
        try {
            loop.join(2000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
