// A small JSON reader and writer, enough for the tezgah protocol, so the
// library needs nothing beyond the framework (.NET Framework 4.x has no
// System.Text.Json; DataContractJsonSerializer cannot read arbitrary
// objects such as payment.detail).
//
// Objects read as Dictionary<string, object>, arrays as List<object>,
// strings as string, true/false as bool, null as null, and numbers as
// JsonNumber, which keeps the number's text: no amount ever passes through
// a double.
using System;
using System.Collections;
using System.Collections.Generic;
using System.Globalization;
using System.Text;

namespace Tezgah
{
    /// <summary>A JSON number kept as its exact text.</summary>
    public sealed class JsonNumber
    {
        public readonly string Text;
        public JsonNumber(string text) { Text = text; }
        public long ToInt64() { return long.Parse(Text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture); }
        public override string ToString() { return Text; }
    }

    public static class Json
    {
        const int MaxDepth = 64;

        /// <summary>Reads exactly one JSON value; FormatException on anything else.</summary>
        public static object Parse(string s)
        {
            int i = 0;
            object v = Value(s, ref i, 0);
            Space(s, ref i);
            if (i != s.Length) throw Bad(i, "text after the value");
            return v;
        }

        public static string Write(object v)
        {
            var sb = new StringBuilder();
            Write(sb, v);
            return sb.ToString();
        }

        static void Write(StringBuilder sb, object v)
        {
            if (v == null) { sb.Append("null"); return; }
            if (v is string) { Quote(sb, (string)v); return; }
            if (v is bool) { sb.Append((bool)v ? "true" : "false"); return; }
            if (v is JsonNumber) { sb.Append(((JsonNumber)v).Text); return; }
            if (v is int || v is long) { sb.Append(Convert.ToInt64(v).ToString(CultureInfo.InvariantCulture)); return; }
            var d = v as IDictionary;
            if (d != null)
            {
                sb.Append('{');
                bool first = true;
                foreach (DictionaryEntry e in d)
                {
                    if (!first) sb.Append(',');
                    first = false;
                    Quote(sb, (string)e.Key);
                    sb.Append(':');
                    Write(sb, e.Value);
                }
                sb.Append('}');
                return;
            }
            var l = v as IList;
            if (l != null)
            {
                sb.Append('[');
                for (int k = 0; k < l.Count; k++)
                {
                    if (k > 0) sb.Append(',');
                    Write(sb, l[k]);
                }
                sb.Append(']');
                return;
            }
            // Floats are refused on purpose: amounts are decimal strings.
            throw new ArgumentException("json: cannot write " + v.GetType().Name);
        }

        static void Quote(StringBuilder sb, string s)
        {
            sb.Append('"');
            foreach (char c in s)
            {
                switch (c)
                {
                    case '"': sb.Append("\\\""); break;
                    case '\\': sb.Append("\\\\"); break;
                    case '\n': sb.Append("\\n"); break;
                    case '\r': sb.Append("\\r"); break;
                    case '\t': sb.Append("\\t"); break;
                    default:
                        if (c < 0x20) sb.Append("\\u").Append(((int)c).ToString("x4"));
                        else sb.Append(c);
                        break;
                }
            }
            sb.Append('"');
        }

        static FormatException Bad(int i, string what) { return new FormatException("json: " + what + " at offset " + i); }

        static void Space(string s, ref int i)
        {
            while (i < s.Length && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) i++;
        }

        static object Value(string s, ref int i, int depth)
        {
            if (depth > MaxDepth) throw Bad(i, "nesting too deep");
            Space(s, ref i);
            if (i >= s.Length) throw Bad(i, "unexpected end");
            char c = s[i];
            if (c == '{') return Obj(s, ref i, depth);
            if (c == '[') return Arr(s, ref i, depth);
            if (c == '"') return Str(s, ref i);
            if (c == '-' || (c >= '0' && c <= '9')) return Num(s, ref i);
            if (Word(s, ref i, "true")) return true;
            if (Word(s, ref i, "false")) return false;
            if (Word(s, ref i, "null")) return null;
            throw Bad(i, "unexpected character");
        }

        static bool Word(string s, ref int i, string w)
        {
            if (string.CompareOrdinal(s, i, w, 0, w.Length) != 0) return false;
            i += w.Length;
            return true;
        }

        static Dictionary<string, object> Obj(string s, ref int i, int depth)
        {
            var d = new Dictionary<string, object>();
            i++; // {
            Space(s, ref i);
            if (i < s.Length && s[i] == '}') { i++; return d; }
            while (true)
            {
                Space(s, ref i);
                if (i >= s.Length || s[i] != '"') throw Bad(i, "expected a key");
                string k = Str(s, ref i);
                Space(s, ref i);
                if (i >= s.Length || s[i] != ':') throw Bad(i, "expected ':'");
                i++;
                d[k] = Value(s, ref i, depth + 1);
                Space(s, ref i);
                if (i >= s.Length) throw Bad(i, "unexpected end");
                if (s[i] == ',') { i++; continue; }
                if (s[i] == '}') { i++; return d; }
                throw Bad(i, "expected ',' or '}'");
            }
        }

        static List<object> Arr(string s, ref int i, int depth)
        {
            var l = new List<object>();
            i++; // [
            Space(s, ref i);
            if (i < s.Length && s[i] == ']') { i++; return l; }
            while (true)
            {
                l.Add(Value(s, ref i, depth + 1));
                Space(s, ref i);
                if (i >= s.Length) throw Bad(i, "unexpected end");
                if (s[i] == ',') { i++; continue; }
                if (s[i] == ']') { i++; return l; }
                throw Bad(i, "expected ',' or ']'");
            }
        }

        static string Str(string s, ref int i)
        {
            var sb = new StringBuilder();
            i++; // opening quote
            while (true)
            {
                if (i >= s.Length) throw Bad(i, "unterminated string");
                char c = s[i++];
                if (c == '"') return sb.ToString();
                if (c < 0x20) throw Bad(i - 1, "control character in string");
                if (c != '\\') { sb.Append(c); continue; }
                if (i >= s.Length) throw Bad(i, "unterminated escape");
                char e = s[i++];
                switch (e)
                {
                    case '"': sb.Append('"'); break;
                    case '\\': sb.Append('\\'); break;
                    case '/': sb.Append('/'); break;
                    case 'b': sb.Append('\b'); break;
                    case 'f': sb.Append('\f'); break;
                    case 'n': sb.Append('\n'); break;
                    case 'r': sb.Append('\r'); break;
                    case 't': sb.Append('\t'); break;
                    case 'u':
                        int code;
                        if (i + 4 > s.Length || !int.TryParse(s.Substring(i, 4), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out code))
                            throw Bad(i, "bad \\u escape");
                        sb.Append((char)code); // surrogate pairs arrive as two escapes and join here
                        i += 4;
                        break;
                    default: throw Bad(i - 1, "bad escape");
                }
            }
        }

        static JsonNumber Num(string s, ref int i)
        {
            int start = i;
            if (s[i] == '-') i++;
            int digits = i;
            while (i < s.Length && s[i] >= '0' && s[i] <= '9') i++;
            if (i == digits || (s[digits] == '0' && i - digits > 1)) throw Bad(start, "bad number");
            if (i < s.Length && s[i] == '.')
            {
                i++;
                int f = i;
                while (i < s.Length && s[i] >= '0' && s[i] <= '9') i++;
                if (i == f) throw Bad(start, "bad number");
            }
            if (i < s.Length && (s[i] == 'e' || s[i] == 'E'))
            {
                i++;
                if (i < s.Length && (s[i] == '+' || s[i] == '-')) i++;
                int x = i;
                while (i < s.Length && s[i] >= '0' && s[i] <= '9') i++;
                if (i == x) throw Bad(start, "bad number");
            }
            return new JsonNumber(s.Substring(start, i - start));
        }
    }
}
