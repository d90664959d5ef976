"""The money rules of tezgah.Client, each against a scripted fake agent
(the real agent runs the same library in clients/conformance_test.go).

    cd clients/python && python3 -m unittest discover -s tests
"""

import decimal
import json
import os
import sys
import tempfile
import threading
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fakeagent import FakeAgent  # noqa: E402
from tezgah import Client, TezgahError, read_cursor, write_cursor  # noqa: E402

APPROVED = {"provider": "iyzico", "payment_id": "29811001", "auth_code": "100001", "amount": "10.00",
            "currency": "TRY"}


def serve_forever(c):
    while True:
        c.recv()


class Base(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp()
        self.cursor = os.path.join(self.dir, "cursor")

    def start(self, script, **kw):
        fake = FakeAgent(script)
        self.addCleanup(fake.close)
        c = Client("kasa-pc-1", fake.url, cursor_file=self.cursor, timeout=10, **kw)
        self.addCleanup(c.close)
        self.addCleanup(lambda: self.assertEqual(fake.errors, []))
        return fake, c


class ClientTest(Base):

    def test_hello_first_then_resume_from_last_seq_and_cursor_on_disk(self):
        def script(c, n):
            r = c.hello(last_seq=41)
            self.assertEqual(r["since"], 41)  # no cursor file yet: start at the agent's last_seq
            sale = c.recv_type("sale")
            c.send({"type": "accepted", "id": sale["id"], "seq": 42, "state": "queued", "register": "kasa-pc-1"})
            c.send({"type": "result", "id": sale["id"], "seq": 43, "status": "approved", "payment": APPROVED})
            serve_forever(c)

        fake, c = self.start(script)
        r = c.sale("kasa-1", "10.00", id="R1-1")
        self.assertTrue(r.approved)
        self.assertEqual(r.payment.auth_code, "100001")
        self.assertEqual(r.payment.amount, "10.00")
        self.assertEqual(json.loads(fake.frames.get(timeout=5)), {"type": "hello", "register": "kasa-pc-1"})
        wait_for(lambda: read_cursor(self.cursor) == 43, "cursor 43 on disk")
        self.assertEqual(sorted(os.listdir(self.dir)), ["cursor"])  # no temp file left behind

    def test_replay_never_moves_the_cursor(self):
        write_cursor(self.cursor, 10)

        def script(c, n):
            self.assertEqual(c.hello(last_seq=50)["since"], 10)
            q = c.recv_type("query")
            c.send({"type": "result", "id": q["id"], "seq": 48, "replay": True, "status": "approved",
                    "payment": APPROVED})
            c.send({"type": "state", "id": "other", "seq": 11, "state": "sending"})
            serve_forever(c)

        fake, c = self.start(script)
        self.assertEqual(c.query("R1-1")["seq"], 48)
        wait_for(lambda: read_cursor(self.cursor) == 11, "cursor 11 (the replay's 48 must not count)")

    def test_busy_sends_the_same_body_again_after_retry_after(self):
        bodies = []

        def script(c, n):
            c.hello()
            for i in range(3):
                sale = c.recv_type("sale")
                bodies.append(fake.last)
                if i < 2:
                    c.send({"type": "error", "id": sale["id"],
                            "error": {"code": "busy", "retry_after_ms": 50, "message": "busy"}})
            c.send({"type": "accepted", "id": sale["id"], "seq": 1, "state": "queued"})
            c.send({"type": "result", "id": sale["id"], "seq": 2, "status": "approved", "payment": APPROVED})
            serve_forever(c)

        busy = []
        fake = FakeAgent(lambda c, n: script(record(c, fake), n))
        self.addCleanup(fake.close)
        c = Client("kasa-pc-1", fake.url, timeout=10, on_busy=lambda id, ms: busy.append((id, ms)))
        self.addCleanup(c.close)
        r = c.sale("kasa-1", decimal.Decimal("10.00"), id="R1-9", expires_in=60)
        self.assertTrue(r.approved)
        self.assertEqual(c.busy_retries, 2)
        self.assertEqual(busy, [("R1-9", 50), ("R1-9", 50)])
        self.assertEqual(len(set(bodies)), 1, bodies)  # byte for byte the same command
        self.assertEqual(fake.errors, [])

    def test_unaccepted_command_is_sent_again_after_reconnect(self):
        seen = []

        def script(c, n):
            c.hello(last_seq=5)
            sale = c.recv_type("sale")
            seen.append(sale)
            if n == 0:
                return  # the connection drops before accepted: the client must send it again
            c.send({"type": "accepted", "id": sale["id"], "seq": 6, "state": "queued"})
            c.send({"type": "result", "id": sale["id"], "seq": 7, "status": "declined",
                    "error": {"code": "card_declined", "message": "Yetersiz bakiye"}})
            serve_forever(c)

        ups = []
        fake, c = self.start(script, on_connection=ups.append)
        r = c.sale("kasa-1", "10.00", id="R1-2")
        self.assertEqual(r.status, "declined")
        self.assertEqual(r.error.code, "card_declined")
        self.assertEqual(seen[0], seen[1])
        self.assertEqual(ups[:3], [True, False, True])

    def test_accepted_command_is_queried_after_reconnect_and_delivered_once(self):
        results = []

        def script(c, n):
            if n == 0:
                c.hello(last_seq=0)
                sale = c.recv_type("sale")
                c.send({"type": "accepted", "id": sale["id"], "seq": 1, "state": "queued"})
                c.send({"type": "result", "id": "earlier", "seq": 2, "status": "approved", "payment": APPROVED})
                return  # dropped before the result
            r = c.hello(last_seq=3)
            self.assertEqual(r["since"], 2)
            q = c.recv_type("query", "sale")
            self.assertEqual(q, {"type": "query", "id": "R1-3"})  # accepted: never sent again, asked
            # The result arrives twice: by resume and as the query's replay.
            c.send({"type": "result", "id": "R1-3", "seq": 3, "status": "approved", "payment": APPROVED})
            c.send({"type": "result", "id": "R1-3", "seq": 3, "replay": True, "status": "approved",
                    "payment": APPROVED})
            # Answered when asked: sent before, it could arrive before the
            # test's query is waiting for it.
            self.assertEqual(c.recv_type("query"), {"type": "query", "id": "earlier"})
            c.send({"type": "result", "id": "earlier", "seq": 2, "replay": True, "status": "approved",
                    "payment": APPROVED})
            serve_forever(c)

        fake, c = self.start(script, on_result=results.append)
        self.assertTrue(c.sale("kasa-1", "10.00", id="R1-3").approved)
        self.assertEqual(c.query("earlier")["replay"], True)
        self.assertEqual(sorted(r.id for r in results), ["R1-3", "earlier"])  # once each

    def test_refusal_is_a_typed_error(self):
        def script(c, n):
            c.hello()
            sale = c.recv_type("sale")
            c.send({"type": "error", "id": sale["id"],
                    "error": {"code": "id_conflict", "field": "id", "message": "used for another request"}})
            serve_forever(c)

        fake, c = self.start(script)
        with self.assertRaises(TezgahError) as e:
            c.sale("kasa-1", "3.50", id="R1-4")
        self.assertEqual((e.exception.code, e.exception.field, e.exception.id), ("id_conflict", "id", "R1-4"))

    def test_agent_before_hello_is_spoken_to_as_local(self):
        def script(c, n):
            self.assertEqual(c.recv()["type"], "hello")
            c.send({"type": "error", "error": {"code": "unknown_type", "field": "type", "message": "unknown"}})
            self.assertEqual(c.recv(), {"type": "status"})
            c.send({"type": "status", "last_seq": 7, "agent": {}, "terminals": []})
            self.assertEqual(c.recv(), {"type": "resume", "since": 7})
            serve_forever(c)

        fake, c = self.start(script)
        wait_for(lambda: c.cursor == 7, "cursor from status")

    def test_state_callback_shows_the_3ds_page(self):
        states = []

        def script(c, n):
            c.hello()
            sale = c.recv_type("sale")
            self.assertEqual(sale["card"]["cvc"], "123")
            c.send({"type": "state", "id": sale["id"], "seq": 1, "state": "waiting", "action_url": "http://x/3ds"})
            c.send({"type": "result", "id": sale["id"], "seq": 2, "status": "approved",
                    "payment": dict(APPROVED, provider="vomsis")})
            serve_forever(c)

        fake, c = self.start(script, on_state=states.append)
        c.sale("vpos-1", "12.00", card={"number": "4508034508034509", "expiry_month": "12", "expiry_year": "2031",
                                         "cvc": "123"})
        self.assertEqual([(s.state, s.action_url) for s in states], [("waiting", "http://x/3ds")])

    def test_amounts_are_never_floats_and_ids_fit(self):
        fake, c = self.start(serve_hello)
        with self.assertRaises(TypeError):
            c.sale("kasa-1", 10.0)
        long = Client("k" * 64, fake.url)
        self.addCleanup(long.close)
        for id in (c.new_id(), long.new_id()):
            self.assertRegex(id, r"^[A-Za-z0-9._-]{1,42}-\d{14}-[A-Z2-7]{6}$")
            self.assertLessEqual(len(id), 64)
        with self.assertRaises(ValueError):
            Client("kasa pc", fake.url)

    def test_timeout_says_the_request_may_still_complete(self):
        def script(c, n):
            c.hello()
            sale = c.recv_type("sale")
            c.send({"type": "accepted", "id": sale["id"], "seq": 1, "state": "queued"})
            serve_forever(c)

        fake, c = self.start(script)
        with self.assertRaises(TezgahError) as e:
            c.sale("kasa-1", "1.00", id="R1-5", timeout=0.3)
        self.assertEqual(e.exception.code, "timeout")


class MoreTest(Base):
    def test_hello_refused_fails_the_waiting_call_with_the_reason(self):
        def script(c, n):
            self.assertEqual(c.recv()["type"], "hello")
            c.send({"type": "error", "error": {"code": "register_mismatch", "field": "register",
                                               "message": "this connection is register kasa-pc-2"}})
            serve_forever(c)

        fake, c = self.start(script)
        with self.assertRaises(TezgahError) as e:
            c.sale("kasa-1", "1.00", id="R1-6")
        self.assertEqual((e.exception.code, e.exception.field), ("register_mismatch", "register"))

    def test_a_caller_giving_up_leaves_the_other_waiting_on_the_same_id(self):
        def script(c, n):
            c.hello()
            sale = c.recv_type("sale")
            c.send({"type": "accepted", "id": sale["id"], "seq": 1, "state": "queued"})
            release.wait(10)
            c.send({"type": "result", "id": sale["id"], "seq": 2, "status": "approved", "payment": APPROVED})
            serve_forever(c)

        release = threading.Event()
        fake, c = self.start(script)
        got = []
        patient = threading.Thread(target=lambda: got.append(c.sale("kasa-1", "10.00", id="R1-7")))
        patient.start()
        wait_for(lambda: "R1-7" in c._calls, "the patient call registered")
        with self.assertRaises(TezgahError) as e:
            c.sale("kasa-1", "10.00", id="R1-7", timeout=0.2)  # the impatient one gives up
        self.assertEqual(e.exception.code, "timeout")
        release.set()
        patient.join(10)
        self.assertEqual([r.status for r in got], ["approved"])


class StateTest(Base):
    def test_a_replayed_state_is_shown_once(self):
        def script(c, n):
            c.hello()
            sale = c.recv_type("sale")
            unknown = {"type": "state", "id": sale["id"], "seq": 2, "state": "unknown", "attempt": 1}
            c.send({"type": "accepted", "id": sale["id"], "seq": 1, "state": "queued"})
            c.send(unknown)
            c.send(dict(unknown, replay=True))  # as the answer to the library's query after a reconnect
            c.send({"type": "result", "id": sale["id"], "seq": 3, "status": "approved", "payment": APPROVED})
            serve_forever(c)

        states = []
        fake, c = self.start(script, on_state=states.append)
        c.sale("kasa-1", "10.00", id="R1-8")
        self.assertEqual([s.state for s in states], ["queued", "unknown"])


class TokenTest(Base):
    def test_the_pairing_token_is_a_header_and_no_origin_is_sent(self):
        seen = []

        def script(c, n):
            seen.append((c.headers.get("authorization"), c.headers.get("origin")))
            serve_hello(c, n)

        fake = FakeAgent(script)
        self.addCleanup(fake.close)
        c = Client("kasa-pc-1", fake.url, token="s3cret")
        self.addCleanup(c.close)
        wait_for(lambda: seen, "a connection")
        self.assertEqual(seen[0], ("Bearer s3cret", None))


class CallbackTest(Base):
    def test_a_raising_callback_neither_drops_the_connection_nor_the_result(self):
        conns = []

        def script(c, n):
            conns.append(n)
            c.hello()
            for id in ("R1-10", "R1-11"):
                sale = c.recv_type("sale")
                self.assertEqual(sale["id"], id)
                c.send({"type": "result", "id": id, "seq": len(id), "status": "approved", "payment": APPROVED})
            serve_forever(c)

        def boom(r):
            raise RuntimeError("register bug")

        fake, c = self.start(script, on_result=boom, on_state=boom)
        with self.assertLogs("tezgah", "ERROR"):
            self.assertTrue(c.sale("kasa-1", "1.00", id="R1-10").approved)
            self.assertTrue(c.sale("kasa-1", "1.00", id="R1-11").approved)
        self.assertEqual(conns, [0])


class CursorFileTest(Base):
    def test_a_cursor_file_that_holds_no_seq_is_refused(self):
        with open(self.cursor, "w") as f:
            f.write("garbage\n")
        with self.assertRaises(TezgahError) as e:
            Client("kasa-pc-1", "ws://127.0.0.1:9/v1/ws", cursor_file=self.cursor)
        self.assertEqual(e.exception.code, "cursor_unreadable")


def serve_hello(c, n):
    c.hello()
    serve_forever(c)


def record(c, fake):
    """Keep the raw text of the last frame on fake.last (bytes sent, before parsing)."""
    orig = c.recv

    def recv():
        m = orig()
        fake.last = list(fake.frames.queue)[-1]
        return m

    c.recv = recv
    return c


def wait_for(cond, what, within=10.0):
    done = threading.Event()
    for _ in range(int(within / 0.01)):
        if cond():
            return
        done.wait(0.01)  # polls real state with a deadline; not synchronisation
    raise AssertionError(f"timed out waiting for {what}")


if __name__ == "__main__":
    unittest.main()
