"""A tiny WebSocket server scripted by each test, for the cases a real agent
cannot be made to produce on demand (a connection dropped right after a
command, a result sent twice, an agent from before hello). Standard library
only; RFC 6455 text frames, enough for the client under test."""

import base64
import hashlib
import json
import queue
import socket
import struct
import threading

_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3


class Conn:
    """One accepted WebSocket connection."""

    def __init__(self, sock: socket.socket, log: "queue.Queue"):
        self.sock, self.log = sock, log
        self.sock.settimeout(10)
        self._handshake()

    def _read_exact(self, n: int) -> bytes:
        b = b""
        while len(b) < n:
            chunk = self.sock.recv(n - len(b))
            if not chunk:
                raise ConnectionError("client closed")
            b += chunk
        return b

    def _handshake(self) -> None:
        req = b""
        while b"\r\n\r\n" not in req:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("no handshake")
            req += chunk
        headers = {}
        for line in req.decode().split("\r\n")[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        self.headers = headers
        accept = base64.b64encode(hashlib.sha1((headers["sec-websocket-key"] + _GUID).encode()).digest()).decode()
        self.sock.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                           f"Sec-WebSocket-Accept: {accept}\r\n\r\n").encode())

    def recv(self) -> dict:
        """The next text frame as JSON (answers pings, raises on close)."""
        while True:
            b0, b1 = self._read_exact(2)
            op, n = b0 & 0x0F, b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._read_exact(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._read_exact(8))[0]
            mask = self._read_exact(4) if b1 & 0x80 else b"\0\0\0\0"
            data = bytes(c ^ mask[i % 4] for i, c in enumerate(self._read_exact(n)))
            if op == 8:
                raise ConnectionError("client sent close")
            if op == 1:
                text = data.decode()
                self.log.put(text)
                return json.loads(text)

    def recv_type(self, *types: str) -> dict:
        """The next frame whose type is one of types (others are skipped)."""
        while True:
            m = self.recv()
            if m.get("type") in types:
                return m

    def send(self, obj) -> None:
        data = (obj if isinstance(obj, str) else json.dumps(obj)).encode()
        head = bytes([0x81])
        if len(data) < 126:
            head += bytes([len(data)])
        elif len(data) < 65536:
            head += bytes([126]) + struct.pack(">H", len(data))
        else:
            head += bytes([127]) + struct.pack(">Q", len(data))
        self.sock.sendall(head + data)

    def hello(self, last_seq: int = 0) -> dict:
        """Answer the client's hello (which must come first) and read its resume."""
        h = self.recv()
        assert h["type"] == "hello", h
        self.send({"type": "hello", "register": h["register"], "agent": "fake", "protocol": 1, "last_seq": last_seq})
        r = self.recv()
        assert r["type"] == "resume", r
        self.send({"type": "resumed", "since": r["since"], "last_seq": last_seq, "scope": "register"})
        return r

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


class FakeAgent:
    """Accepts connections on a free loopback port; each goes to script(conn, n)
    (n counts connections from 0) in its own thread."""

    def __init__(self, script):
        self.script = script
        self.frames: "queue.Queue[str]" = queue.Queue()  # every text frame received, in order
        self.errors: list = []
        self.ln = socket.create_server(("127.0.0.1", 0))
        self.url = f"ws://127.0.0.1:{self.ln.getsockname()[1]}/v1/ws"
        self._n = 0
        self._t = threading.Thread(target=self._accept, daemon=True)
        self._t.start()

    def _accept(self) -> None:
        while True:
            try:
                s, _ = self.ln.accept()
            except OSError:
                return
            n, self._n = self._n, self._n + 1
            threading.Thread(target=self._serve, args=(s, n), daemon=True).start()

    def _serve(self, s: socket.socket, n: int) -> None:
        c = None
        try:
            c = Conn(s, self.frames)
            self.script(c, n)
        except (ConnectionError, OSError, socket.timeout):
            pass
        except Exception as e:  # an assertion in the script: the test reports it
            self.errors.append(e)
        finally:
            if c is not None:
                c.close()
            else:
                s.close()

    def close(self) -> None:
        self.ln.close()
