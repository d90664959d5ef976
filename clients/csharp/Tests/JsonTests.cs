// Tests of the small JSON reader/writer: run by ./build.sh test.
using System;
using System.Collections.Generic;
using Tezgah;

static class JsonTests
{
    static int failed;

    static int Main()
    {
        // Numbers keep their exact text; no double in between.
        var o = (Dictionary<string, object>)Json.Parse("{\"seq\":9007199254740993,\"a\":\"150.10\",\"n\":150.10,\"neg\":-0.5e+3}");
        Eq(((JsonNumber)o["seq"]).ToInt64().ToString(), "9007199254740993", "big seq");
        Eq(((JsonNumber)o["n"]).Text, "150.10", "number text");
        Eq(((JsonNumber)o["neg"]).Text, "-0.5e+3", "exponent text");
        Eq((string)o["a"], "150.10", "string");

        // Strings: escapes, Turkish letters, surrogate pairs.
        Eq((string)Json.Parse("\"Sa\\u00e7 T\\u0131ra\\u015f\\u0131 \\ud83d\\ude00 \\\"q\\\" \\\\ \\/ \\n\""), "Saç Tıraşı 😀 \"q\" \\ / \n", "escapes");
        Eq(Json.Write("a\"b\\c\n\u0001ş"), "\"a\\\"b\\\\c\\n\\u0001ş\"", "write escapes");

        // Nesting, whitespace, literals round trip.
        var text = "{\"x\":[1,true,false,null,{\"y\":[]},{}],\"z\":\"\"}";
        Eq(Json.Write(Json.Parse(" \n" + text + "\t")), text, "round trip");

        // Bad input is refused with FormatException, never half-read.
        foreach (var bad in new[] { "", "{", "{\"a\"}", "{\"a\":1,}", "[1,]", "01", "1.", "-", "1e", "\"\\x\"", "\"abc",
                                    "tru", "{} {}", "\"\u0001\"", "{\"a\":1 \"b\":2}", "\"\\u12\"", "[" + new string('[', 100) + new string(']', 101) })
        {
            try { Json.Parse(bad); Fail("accepted bad input: " + bad); }
            catch (FormatException) { }
        }
        // Floats cannot be written: amounts are strings.
        try { Json.Write(1.5); Fail("wrote a double"); } catch (ArgumentException) { }

        // Mutated protocol lines: the reader either reads a value (which then writes and
        // reads back the same) or refuses with FormatException, never another exception.
        var seeds = new[] {
            "{\"type\":\"result\",\"id\":\"R1-1\",\"seq\":44,\"replay\":true,\"status\":\"approved\",\"payment\":{\"amount\":\"150.00\",\"detail\":{\"totals\":[{\"n\":-1.5e3}]}}}",
            "{\"type\":\"error\",\"id\":\"R1-9\",\"error\":{\"code\":\"busy\",\"retry_after_ms\":250,\"message\":\"Sa\\u00e7 \\\"x\\\"\"}}",
        };
        var rnd = new Random(17);
        const string alphabet = "{}[]\":,.-+eE0123456789tfnulrsa\\/u \t\n";
        for (int n = 0; n < 20000; n++)
        {
            var b = new System.Text.StringBuilder(seeds[n % seeds.Length]);
            for (int k = rnd.Next(1, 4); k > 0 && b.Length > 0; k--)
            {
                int at = rnd.Next(b.Length);
                switch (rnd.Next(3))
                {
                    case 0: b.Remove(at, 1); break;
                    case 1: b.Insert(at, alphabet[rnd.Next(alphabet.Length)]); break;
                    default: b[at] = alphabet[rnd.Next(alphabet.Length)]; break;
                }
            }
            var input = b.ToString();
            try
            {
                var once = Json.Write(Json.Parse(input));
                if (Json.Write(Json.Parse(once)) != once) Fail("round trip differs: " + input);
            }
            catch (FormatException) { }
            catch (Exception e) { Fail(e.GetType().Name + " on " + input); }
        }

        Console.WriteLine(failed == 0 ? "json tests: ok" : "json tests: " + failed + " failed");
        return failed == 0 ? 0 : 1;
    }

    static void Eq(string got, string want, string what) { if (got != want) Fail(what + ": got [" + got + "] want [" + want + "]"); }
    static void Fail(string m) { failed++; Console.WriteLine("FAIL " + m); }
}
