"""An example cash register: a sale, then a refund of it, showing the cashier each step.

    python3 examples/register.py --url ws://127.0.0.1:8417/v1/ws --register kasa-pc-1 --terminal kasa-1 --amount 150.00

Restart the agent while it waits: the library reconnects, resumes and the
result is printed once it comes.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from tezgah import DEFAULT_URL, Client, TezgahError  # noqa: E402

SAYS = {
    "accepted": "stored by the agent",
    "queued": "waiting for the terminal",
    "sending": "waiting for card…",
    "waiting": "waiting for the customer's bank page",
    "unknown": "checking with the bank (unknown)…",
}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", default=DEFAULT_URL)
    p.add_argument("--register", default="kasa-pc-1")
    p.add_argument("--terminal", default="kasa-1")
    p.add_argument("--amount", default="150.00")
    p.add_argument("--cursor", default=None, help="cursor file (default: <register>.cursor here)")
    a = p.parse_args()
    tag = f"[{a.terminal}]"

    def state(e):
        extra = f" {e.action_url}" if e.action_url else ""
        print(f"{tag} {e.id}: {SAYS.get(e.state, e.state)}{extra}", flush=True)

    def connection(up):
        print(f"{tag} agent {'connected' if up else 'lost, reconnecting…'}", flush=True)

    def show(what, r):
        if r.approved:
            p = r.payment
            print(f"{tag} {what}: APPROVED auth {p.auth_code or '-'} payment {p.payment_id or '-'} {p.masked_pan or ''}",
                  flush=True)
        else:
            print(f"{tag} {what}: {r.status.upper()} {r.error.code if r.error else ''} "
                  f"{r.error.message if r.error else ''}", flush=True)

    with Client(a.register, a.url, cursor_file=a.cursor or f"{a.register}.cursor",
                on_state=state, on_connection=connection) as c:
        try:
            print(f"{tag} Sale {a.amount} TRY: waiting for card…", flush=True)
            sale = c.sale(a.terminal, a.amount)
            show("Sale", sale)
            if not sale.approved:
                return 1
            print(f"{tag} Refund {a.amount} TRY of {sale.id}…", flush=True)
            refund = c.refund(a.terminal, sale.id, a.amount)
            show("Refund", refund)
            return 0 if refund.approved else 1
        except TezgahError as e:
            print(f"{tag} refused: {e.code} {e.message}", flush=True)
            return 1


if __name__ == "__main__":
    sys.exit(main())
