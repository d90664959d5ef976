"""tezgah: the cash register's client for the tezgah payment agent.

    from tezgah import Client
    with Client("kasa-pc-1", cursor_file="tezgah.cursor") as c:
        r = c.sale("kasa-1", "150.00")
        print(r.status, r.payment.auth_code if r.payment else r.error)

See clients/README.md for the money rules this library keeps for you.
"""

from .client import (DEFAULT_URL, RETRY_CODES, STATES, STATUSES, Client, ErrorInfo, Payment, Result,
                     StateEvent, TezgahError, read_cursor, write_cursor)

__all__ = ["DEFAULT_URL", "RETRY_CODES", "STATES", "STATUSES", "Client", "ErrorInfo", "Payment", "Result",
           "StateEvent", "TezgahError", "read_cursor", "write_cursor"]
__version__ = "0.1.0"
