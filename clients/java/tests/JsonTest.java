// Tests of the small JSON reader/writer: run by ./build.sh test.
import java.util.List;
import java.util.Map;
import tr.tezgah.client.Json;

public class JsonTest {
    static int failed;

    @SuppressWarnings("unchecked")
    public static void main(String[] args) {
        // Numbers keep their exact text; no double in between.
        Map<String, Object> o = (Map<String, Object>) Json.parse("{\"seq\":9007199254740993,\"a\":\"150.10\",\"n\":150.10,\"neg\":-0.5e+3}");
        eq(String.valueOf(((Json.Num) o.get("seq")).longValue()), "9007199254740993", "big seq");
        eq(((Json.Num) o.get("n")).text, "150.10", "number text");
        eq(((Json.Num) o.get("neg")).text, "-0.5e+3", "exponent text");
        eq((String) o.get("a"), "150.10", "string");

        // Strings: escapes, Turkish letters, surrogate pairs.
        eq((String) Json.parse("\"Sa\\u00e7 T\\u0131ra\\u015f\\u0131 \\ud83d\\ude00 \\\"q\\\" \\\\ \\/ \\n\""), "Saç Tıraşı \uD83D\uDE00 \"q\" \\ / \n", "escapes");
        eq(Json.write("a\"b\\c\n\u0001ş"), "\"a\\\"b\\\\c\\n\\u0001ş\"", "write escapes");

        // Nesting, whitespace, literals round trip (key order kept).
        String text = "{\"x\":[1,true,false,null,{\"y\":[]},{}],\"z\":\"\"}";
        eq(Json.write(Json.parse(" \n" + text + "\t")), text, "round trip");

        // Bad input is refused, never half-read.
        for (String bad : List.of("", "{", "{\"a\"}", "{\"a\":1,}", "[1,]", "01", "1.", "-", "1e", "\"\\x\"", "\"abc",
                "tru", "{} {}", "\"\u0001\"", "{\"a\":1 \"b\":2}", "\"\\u12\"", "\"\\u12g4\"", "[".repeat(101) + "]".repeat(101))) {
            try {
                Json.parse(bad);
                fail("accepted bad input: " + bad);
            } catch (IllegalArgumentException e) {
                // expected
            }
        }
        try {
            Json.write(1.5);
            fail("wrote a double");
        } catch (IllegalArgumentException e) {
            // expected: amounts are strings
        }
        // Mutated protocol lines: the reader either reads a value (which then writes and
        // reads back the same) or refuses with IllegalArgumentException, never another exception.
        String[] seeds = {
            "{\"type\":\"result\",\"id\":\"R1-1\",\"seq\":44,\"replay\":true,\"status\":\"approved\",\"payment\":{\"amount\":\"150.00\",\"detail\":{\"totals\":[{\"n\":-1.5e3}]}}}",
            "{\"type\":\"error\",\"id\":\"R1-9\",\"error\":{\"code\":\"busy\",\"retry_after_ms\":250,\"message\":\"Sa\\u00e7 \\\"x\\\"\"}}",
        };
        java.util.Random rnd = new java.util.Random(17);
        String alphabet = "{}[]\":,.-+eE0123456789tfnulrsa\\/u \t\n";
        for (int n = 0; n < 20000; n++) {
            StringBuilder b = new StringBuilder(seeds[n % seeds.length]);
            for (int k = 1 + rnd.nextInt(3); k > 0 && b.length() > 0; k--) {
                int at = rnd.nextInt(b.length());
                switch (rnd.nextInt(3)) {
                    case 0: b.deleteCharAt(at); break;
                    case 1: b.insert(at, alphabet.charAt(rnd.nextInt(alphabet.length()))); break;
                    default: b.setCharAt(at, alphabet.charAt(rnd.nextInt(alphabet.length())));
                }
            }
            String input = b.toString();
            try {
                String once = Json.write(Json.parse(input));
                if (!Json.write(Json.parse(once)).equals(once)) fail("round trip differs: " + input);
            } catch (IllegalArgumentException e) {
                // refused: fine
            } catch (RuntimeException e) {
                fail(e.getClass().getSimpleName() + " on " + input);
            }
        }

        System.out.println(failed == 0 ? "json tests: ok" : "json tests: " + failed + " failed");
        System.exit(failed == 0 ? 0 : 1);
    }

    static void eq(String got, String want, String what) { if (!got.equals(want)) fail(what + ": got [" + got + "] want [" + want + "]"); }
    static void fail(String m) { failed++; System.out.println("FAIL " + m); }
}
