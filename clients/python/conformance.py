"""The client-kit conformance program: one step per process (clients/README.md).

    python3 conformance.py --url URL --register NAME --cursor FILE --step STEP [--id ID] [--terminal T] [--amount A]

Prints ``OK <step> ...`` (exit 0) or ``FAIL <step> <why>`` (exit 1); ACTION,
INFLIGHT and BUSY lines tell the runner what to do meanwhile.
"""

import argparse
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from tezgah import Client, TezgahError  # noqa: E402

CARD = {"number": "4508034508034509", "expiry_month": "12", "expiry_year": "2031", "cvc": "123",
        "holder": "Zeynep Kaya"}
_out = threading.Lock()


def say(line: str) -> None:
    with _out:
        print(line, flush=True)


class Fail(Exception):
    pass


def want(r, status, what):
    if r.status != status:
        raise Fail(f"{what}: want {status}, got {r.status} {r.error}")
    return r


def main() -> int:
    p = argparse.ArgumentParser()
    for a in ("url", "register", "cursor", "step", "id", "terminal", "amount"):
        p.add_argument("--" + a)
    p.add_argument("--timeout", type=float, default=100)
    a = p.parse_args()
    watched = {"id": a.id}
    results = []
    inflight = threading.Event()

    def on_state(e):
        if e.id != watched["id"]:
            return
        if e.state == "waiting" and e.action_url:
            say(f"ACTION {e.action_url}")
        if a.step == "kill_restart" and e.state == "sending" and not inflight.is_set():
            inflight.set()
            say(f"INFLIGHT {e.id}")

    def on_result(r):
        if r.id == watched["id"]:
            results.append(r)

    def on_busy(id, ms):
        say(f"BUSY {id} {ms}")

    c = Client(a.register, a.url, cursor_file=a.cursor, on_state=on_state, on_result=on_result,
               on_busy=on_busy, timeout=a.timeout)
    try:
        extra = run(c, a, watched, results)
        say(f"OK {a.step}" + (f" {extra}" if extra else ""))
        return 0
    except (Fail, TezgahError, ValueError) as e:
        say(f"FAIL {a.step} {e}".replace("\n", " "))
        return 1
    finally:
        c.close()


def run(c: Client, a, watched, results) -> str:
    s = a.step
    if s == "sale_refund_void_query_eod":
        sale = want(c.sale("kasa-1", "10.00"), "approved", "sale")
        want(c.refund("kasa-1", sale.id, "4.00"), "approved", "refund")
        sale2 = want(c.sale("kasa-1", "5.00"), "approved", "second sale")
        want(c.void("kasa-1", sale2.id), "approved", "void")
        q = c.query(sale.id)
        if q["type"] != "result" or not q.get("replay") or q.get("status") != "approved":
            raise Fail(f"query: got {q}")
        want(c.end_of_day("kasa-1"), "approved", "end_of_day")
        return ""
    if s == "paywall_sale":
        want(c.sale("kasa-3", "7.50"), "approved", "sale")
        return ""
    if s == "vomsis_3ds":
        watched["id"] = a.id or c.new_id()
        want(c.sale("vpos-1", "12.00", id=watched["id"], card=CARD), "approved", "sale")
        return ""
    if s == "kill_restart":
        watched["id"] = a.id or c.new_id()
        r = c.sale("kasa-2", "3.00", id=watched["id"])
        if len(results) != 1:
            raise Fail(f"results delivered for {watched['id']}: {len(results)}")
        return r.status
    if s == "same_id":
        id = a.id or c.new_id()
        first = want(c.sale("kasa-1", "2.50", id=id), "approved", "sale")
        again = c.sale("kasa-1", "2.50", id=id)
        if not again.replay or again.status != first.status or again.payment.payment_id != first.payment.payment_id:
            raise Fail(f"same body again: got {again.raw}")
        try:
            c.sale("kasa-1", "3.50", id=id)
        except TezgahError as e:
            if e.code == "id_conflict":
                return ""
            raise Fail(f"other body: want id_conflict, got {e.code}")
        raise Fail("other body: want id_conflict, got a result")
    if s == "two_registers":
        r = want(c.sale("kasa-1", "2.00", id=a.id or "R1-1"), "approved", "sale")
        return r.payment.payment_id
    if s == "busy":
        r = c.sale(a.terminal or "kasa-1", a.amount or "1.00", id=a.id or c.new_id())
        if c.busy_retries < 1:
            raise Fail(f"never answered busy (result {r.status})")
        return str(c.busy_retries)
    raise Fail("unknown step")


if __name__ == "__main__":
    sys.exit(main())
