package tr.tezgah.client;

/**
 * A call ended without a result: {@link #code} is the protocol's stable code
 * (id_conflict, invalid_amount, not_found, register_mismatch, …) or a client
 * one (timeout, not_connected, closed).
 */
public class TezgahException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public final String code;
    public final String field;
    public final int retryAfterMs;

    public TezgahException(String code, String field, String message, int retryAfterMs) {
        super(code + (field != null ? " (" + field + ")" : "") + ": " + message);
        this.code = code;
        this.field = field;
        this.retryAfterMs = retryAfterMs;
    }
}
