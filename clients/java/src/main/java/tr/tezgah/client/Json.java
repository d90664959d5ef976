package tr.tezgah.client;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A small JSON reader and writer, enough for the tezgah protocol, so the
 * library needs no third-party jar. Objects read as {@code Map<String,Object>}
 * (insertion order), arrays as {@code List<Object>}, strings, booleans, null,
 * and numbers as {@link Json.Num}, which keeps the number's exact text: no
 * amount ever passes through a double.
 */
public final class Json {
    private Json() {}

    private static final int MAX_DEPTH = 64;

    /** A JSON number kept as its text. */
    public static final class Num {
        public final String text;
        public Num(String text) { this.text = text; }
        public long longValue() { return Long.parseLong(text); }
        @Override public String toString() { return text; }
        @Override public boolean equals(Object o) { return o instanceof Num && ((Num) o).text.equals(text); }
        @Override public int hashCode() { return text.hashCode(); }
    }

    /** Reads exactly one JSON value; IllegalArgumentException on anything else. */
    public static Object parse(String s) {
        int[] i = {0};
        Object v = value(s, i, 0);
        space(s, i);
        if (i[0] != s.length()) throw bad(i[0], "text after the value");
        return v;
    }

    public static String write(Object v) {
        StringBuilder sb = new StringBuilder();
        write(sb, v);
        return sb.toString();
    }

    private static void write(StringBuilder sb, Object v) {
        if (v == null) sb.append("null");
        else if (v instanceof String) quote(sb, (String) v);
        else if (v instanceof Boolean) sb.append(v.toString());
        else if (v instanceof Num || v instanceof Integer || v instanceof Long) sb.append(v.toString());
        else if (v instanceof Map) {
            sb.append('{');
            boolean first = true;
            for (Map.Entry<?, ?> e : ((Map<?, ?>) v).entrySet()) {
                if (!first) sb.append(',');
                first = false;
                quote(sb, (String) e.getKey());
                sb.append(':');
                write(sb, e.getValue());
            }
            sb.append('}');
        } else if (v instanceof List) {
            sb.append('[');
            List<?> l = (List<?>) v;
            for (int k = 0; k < l.size(); k++) {
                if (k > 0) sb.append(',');
                write(sb, l.get(k));
            }
            sb.append(']');
        } else {
            // Floats are refused on purpose: amounts are decimal strings.
            throw new IllegalArgumentException("json: cannot write " + v.getClass().getSimpleName());
        }
    }

    private static void quote(StringBuilder sb, String s) {
        sb.append('"');
        for (int k = 0; k < s.length(); k++) {
            char c = s.charAt(k);
            switch (c) {
                case '"': sb.append("\\\""); break;
                case '\\': sb.append("\\\\"); break;
                case '\n': sb.append("\\n"); break;
                case '\r': sb.append("\\r"); break;
                case '\t': sb.append("\\t"); break;
                default:
                    if (c < 0x20) sb.append(String.format("\\u%04x", (int) c));
                    else sb.append(c);
            }
        }
        sb.append('"');
    }

    private static IllegalArgumentException bad(int at, String what) {
        return new IllegalArgumentException("json: " + what + " at offset " + at);
    }

    private static void space(String s, int[] i) {
        while (i[0] < s.length()) {
            char c = s.charAt(i[0]);
            if (c != ' ' && c != '\t' && c != '\n' && c != '\r') return;
            i[0]++;
        }
    }

    private static Object value(String s, int[] i, int depth) {
        if (depth > MAX_DEPTH) throw bad(i[0], "nesting too deep");
        space(s, i);
        if (i[0] >= s.length()) throw bad(i[0], "unexpected end");
        char c = s.charAt(i[0]);
        if (c == '{') return object(s, i, depth);
        if (c == '[') return array(s, i, depth);
        if (c == '"') return string(s, i);
        if (c == '-' || (c >= '0' && c <= '9')) return number(s, i);
        if (s.startsWith("true", i[0])) { i[0] += 4; return Boolean.TRUE; }
        if (s.startsWith("false", i[0])) { i[0] += 5; return Boolean.FALSE; }
        if (s.startsWith("null", i[0])) { i[0] += 4; return null; }
        throw bad(i[0], "unexpected character");
    }

    private static Map<String, Object> object(String s, int[] i, int depth) {
        Map<String, Object> m = new LinkedHashMap<>();
        i[0]++;
        space(s, i);
        if (i[0] < s.length() && s.charAt(i[0]) == '}') { i[0]++; return m; }
        while (true) {
            space(s, i);
            if (i[0] >= s.length() || s.charAt(i[0]) != '"') throw bad(i[0], "expected a key");
            String k = string(s, i);
            space(s, i);
            if (i[0] >= s.length() || s.charAt(i[0]) != ':') throw bad(i[0], "expected ':'");
            i[0]++;
            m.put(k, value(s, i, depth + 1));
            space(s, i);
            if (i[0] >= s.length()) throw bad(i[0], "unexpected end");
            char c = s.charAt(i[0]++);
            if (c == ',') continue;
            if (c == '}') return m;
            throw bad(i[0] - 1, "expected ',' or '}'");
        }
    }

    private static List<Object> array(String s, int[] i, int depth) {
        List<Object> l = new ArrayList<>();
        i[0]++;
        space(s, i);
        if (i[0] < s.length() && s.charAt(i[0]) == ']') { i[0]++; return l; }
        while (true) {
            l.add(value(s, i, depth + 1));
            space(s, i);
            if (i[0] >= s.length()) throw bad(i[0], "unexpected end");
            char c = s.charAt(i[0]++);
            if (c == ',') continue;
            if (c == ']') return l;
            throw bad(i[0] - 1, "expected ',' or ']'");
        }
    }

    private static String string(String s, int[] i) {
        StringBuilder sb = new StringBuilder();
        i[0]++;
        while (true) {
            if (i[0] >= s.length()) throw bad(i[0], "unterminated string");
            char c = s.charAt(i[0]++);
            if (c == '"') return sb.toString();
            if (c < 0x20) throw bad(i[0] - 1, "control character in string");
            if (c != '\\') { sb.append(c); continue; }
            if (i[0] >= s.length()) throw bad(i[0], "unterminated escape");
            char e = s.charAt(i[0]++);
            switch (e) {
                case '"': sb.append('"'); break;
                case '\\': sb.append('\\'); break;
                case '/': sb.append('/'); break;
                case 'b': sb.append('\b'); break;
                case 'f': sb.append('\f'); break;
                case 'n': sb.append('\n'); break;
                case 'r': sb.append('\r'); break;
                case 't': sb.append('\t'); break;
                case 'u':
                    if (i[0] + 4 > s.length()) throw bad(i[0], "bad \\u escape");
                    int code = 0;
                    for (int k = 0; k < 4; k++) {
                        int d = Character.digit(s.charAt(i[0] + k), 16);
                        if (d < 0) throw bad(i[0], "bad \\u escape");
                        code = code * 16 + d;
                    }
                    sb.append((char) code); // surrogate pairs arrive as two escapes and join here
                    i[0] += 4;
                    break;
                default: throw bad(i[0] - 1, "bad escape");
            }
        }
    }

    private static Num number(String s, int[] i) {
        int start = i[0], n = s.length();
        if (s.charAt(i[0]) == '-') i[0]++;
        int digits = i[0];
        while (i[0] < n && s.charAt(i[0]) >= '0' && s.charAt(i[0]) <= '9') i[0]++;
        if (i[0] == digits || (s.charAt(digits) == '0' && i[0] - digits > 1)) throw bad(start, "bad number");
        if (i[0] < n && s.charAt(i[0]) == '.') {
            int f = ++i[0];
            while (i[0] < n && s.charAt(i[0]) >= '0' && s.charAt(i[0]) <= '9') i[0]++;
            if (i[0] == f) throw bad(start, "bad number");
        }
        if (i[0] < n && (s.charAt(i[0]) == 'e' || s.charAt(i[0]) == 'E')) {
            i[0]++;
            if (i[0] < n && (s.charAt(i[0]) == '+' || s.charAt(i[0]) == '-')) i[0]++;
            int x = i[0];
            while (i[0] < n && s.charAt(i[0]) >= '0' && s.charAt(i[0]) <= '9') i[0]++;
            if (i[0] == x) throw bad(start, "bad number");
        }
        return new Num(s.substring(start, i[0]));
    }
}
