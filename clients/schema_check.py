#!/usr/bin/env python3
"""Checks the wire names the C#, Java and Pascal clients use against the
JSON Schema (docs/schema/tezgah-v1.schema.json): every quoted snake_case
word in a library (a field it reads or writes, a command or event type, a
status, a state or an error code it branches on) must be a property name,
a const or an enum value of the schema, or one of the clients' own codes.
A typo such as "payment_Id" or "action_uri" fails here.

    python3 clients/schema_check.py [SCHEMA]
"""
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
LIBS = {
    "csharp": ["csharp/Tezgah.cs", "csharp/Example/Register.cs", "csharp/Conformance/Conformance.cs"],
    "java": ["java/src/main/java/tr/tezgah/client/TezgahClient.java", "java/examples/Register.java",
             "java/conformance/Conformance.java"],
    "pascal": ["pascal/tezgah.pas", "pascal/example_register.pas", "pascal/conformance.pas"],
}
# Codes the clients make up themselves (never on the wire) and protocol
# error codes that are documented in docs/protocol.md but, being free
# strings in the schema (pattern only), appear there only as examples.
CLIENT_WORDS = {"timeout", "closed", "not_connected", "invalid_answer", "no_random",
                "rate_limited", "unavailable", "shutting_down", "unknown_type"}
# Words of the languages themselves, not of the protocol.
# and the conformance programs' own step and argument names.
LANGUAGE_WORDS = {"unchecked", "yyyymmddhhnnss", "yyyyMMddHHmmss", "url", "step", "cursor", "sale_refund_void_query_eod",
                  "paywall_sale", "vomsis_3ds", "kill_restart", "same_id", "two_registers"}
# Names every library must use (the money rules depend on them); also shows
# the scan found the library's names at all.
REQUIRED = {"result", "replay", "seq", "payment_id", "action_url", "retry_after_ms", "busy",
            "approved", "waiting", "sending", "id_conflict"}
WEBSOCKET = {"hello", "accepted", "resume", "last_seq"}  # not the HTTP door (Pascal)


def schema_words(node, out):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "properties" and isinstance(v, dict):
                out.update(v.keys())
            if k in ("const", "enum", "examples"):
                for x in (v if isinstance(v, list) else [v]):
                    if isinstance(x, str):
                        out.add(x)
            schema_words(v, out)
    elif isinstance(node, list):
        for x in node:
            schema_words(x, out)


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "docs", "schema", "tezgah-v1.schema.json")
    with open(path, encoding="utf-8") as f:
        schema = json.load(f)
    known = set()
    schema_words(schema, known)
    for need in ("status_name", "state_name", "payment", "error"):
        if need not in schema.get("$defs", {}):
            print(f"schema: no $defs/{need}")
            return 1
    bad = 0
    for lang, files in LIBS.items():
        used = set()
        for rel in files:
            with open(os.path.join(HERE, rel), encoding="utf-8") as f:
                text = f.read()
            # "word" in C#/Java, 'word' in Pascal, starting lower-case (wire names are
            # all lower-case, so "payment_Id" is caught as a name the schema lacks)
            used.update(re.findall(r"[\"']([a-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)*)[\"']", text))
        used = {w for w in used if len(w) > 1 and w not in LANGUAGE_WORDS}
        unknown = sorted(w for w in used if w not in known and w not in CLIENT_WORDS)
        missing = sorted((REQUIRED | (WEBSOCKET if lang != "pascal" else set())) - used)
        if unknown or missing:
            bad += 1
            print(f"schema check {lang}: not in the schema: {', '.join(unknown) or '-'}; "
                  f"never used: {', '.join(missing) or '-'}")
        else:
            print(f"schema check {lang}: ok ({len(used)} names)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
