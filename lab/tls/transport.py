"""TLS over a plain TCP socket through ssl.SSLObject + ssl.MemoryBIO.

Why not ``ssl.SSLSocket``?  The chat server reads each client in its own
thread (blocking ``recv``) while the thread that holds the fan-out's
*delivery lock* sends to every member with non-blocking sends
(``MSG_DONTWAIT``, lab/tcp/delivery.py).  ``SSLSocket.send`` takes no flags,
and one OpenSSL connection object must not be read and written by two
threads at once.  So the socket stays a plain socket, and TLS becomes a pure
transformation done under a small lock of this object's own:

    wire bytes in  --recv()-->  plaintext          (reader thread only)
    plaintext      --encode()--> wire bytes out    (any thread)

That lock is held only around the CPU-only SSLObject calls, never across
socket I/O.  TLS records carry implicit sequence numbers, so the wire bytes
from ``encode()``, ``pending_wire()`` and ``close_notify()`` must reach the
socket in the order those calls returned them: call them under the lock
that orders your sends (the server's delivery lock, which ``Outbox`` holds
while it encodes and sends), and send or queue the result before releasing
it.  ``TlsTransport`` implements ``lab.tcp.transport.Transport`` (``recv``,
``sendall``, ``close_notify``).  See docs/TLS.md.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from typing import Callable

from lab.tls.contexts import explain_verify_error
from lab.tls.detect import HANDSHAKE, PLAIN_TEXT_ON_TLS_PORT, looks_like_tls_record, printable_excerpt

# Big enough for a whole TLS record (16 KiB of plaintext plus overhead).
_RAW_CHUNK = 32 * 1024


class TlsError(ConnectionError):
    """The TLS session broke after the handshake (corrupted or unexpected
    records).  A ConnectionError, so code that handles resets handles it."""


class TlsHandshakeError(ConnectionError):
    """The TLS handshake failed.  ``str(exc)`` (== ``exc.reason``) is one line
    for a person; ``exc.kind`` is one word for code and logs:

    ``timeout``   the peer did not complete the handshake in time
    ``plaintext`` the peer speaks plain text, not TLS (wrong port / no --tls)
    ``verify``    we rejected the peer's certificate
    ``rejected``  the peer rejected our certificate (it sent an alert)
    ``closed``    the peer closed the connection during the handshake
    ``reset``     the peer reset the connection during the handshake
    ``protocol``  anything else TLS did not like (versions, ciphers, ...)
    """

    def __init__(self, reason: str, kind: str = "protocol") -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind

    def __str__(self) -> str:
        return self.reason


class TlsTransport:
    """A TLS session on an already connected, *blocking* TCP socket.

    ``sock`` stays a plain socket that the owner sends on and closes;
    this object only turns wire bytes into plaintext and back.

    - ``handshake(timeout)``: first, in one thread, before anything else.
    - ``recv(bufsize)``: only from the one reader thread.
    - ``encode(data)`` / ``pending_wire()`` / ``close_notify()``: from any
      thread, under the owner's send-ordering lock (the server's delivery
      lock; see the module docstring).
    - ``sendall(data)``: encode + blocking ``sock.sendall`` under this
      object's own send lock, for simple owners (the client, tests).

    ``on_wire_pending``: an optional callable (no arguments) that ``recv``
    calls, outside any lock of ours, when reading made OpenSSL produce wire
    bytes of its own (an alert, a TLS 1.3 key-update answer).  The owner then
    queues them in order with everything else it sends (the server pushes an
    empty message through the member's outbox, which takes the delivery lock
    and sends ``encode(b"")``).  Without it, those bytes simply go out in
    front of the next ``encode()``.
    """

    def __init__(
        self,
        sock: socket.socket,
        context: ssl.SSLContext,
        server_side: bool,
        server_hostname: str | None = None,
    ) -> None:
        self.sock = sock
        self.server_side = server_side
        self.server_hostname = server_hostname
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._obj = context.wrap_bio(
            self._incoming, self._outgoing, server_side=server_side, server_hostname=server_hostname
        )
        self._lock = threading.Lock()  # guards _obj and both BIOs; never held across I/O
        self._send_lock = threading.Lock()  # only for sendall()
        self._handshake_done = False
        self._closing = False  # close_notify() was called: encode() drops data
        self._broken = False  # a fatal TLS error: encode() drops data
        self.on_wire_pending: Callable[[], None] | None = None
        # How the peer's side ended, for lessons and logs: None (still open),
        # "close_notify" (a clean TLS close) or "eof" (TCP FIN without close_notify).
        self.peer_closed: str | None = None

    # ------------------------------------------------------------------ handshake

    def handshake(self, timeout: float) -> None:
        """Run the TLS handshake on the raw socket in this thread, within
        ``timeout`` seconds overall.  Raises TlsHandshakeError.

        An idle peer or one that trickles bytes cannot hold it longer than
        ``timeout``.  The socket's own timeout is restored afterwards.
        """
        if self._handshake_done:
            return
        deadline = time.monotonic() + timeout
        saved_timeout = self.sock.gettimeout()
        first = True  # the first bytes from the peer tell TLS from plain text
        try:
            while True:
                try:
                    with self._lock:
                        self._obj.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    pass
                except ssl.SSLCertVerificationError as exc:
                    self._flush_best_effort(deadline)  # tell the peer why (an alert)
                    raise TlsHandshakeError(
                        "certificate verification failed: " + explain_verify_error(exc, self.server_hostname),
                        "verify",
                    ) from None
                except ssl.SSLError as exc:
                    self._flush_best_effort(deadline)
                    raise self._handshake_ssl_error(exc) from None
                self._flush(deadline)
                chunk = self._recv_raw(deadline)
                if first:
                    first = False
                    self._check_first_bytes(chunk)
                with self._lock:
                    self._incoming.write(chunk)
            # TLS 1.2: our last flight; TLS 1.3: the client's Finished, or the
            # server's session tickets.
            self._flush(deadline)
        finally:
            try:
                self.sock.settimeout(saved_timeout)
            except OSError:
                pass
        self._handshake_done = True

    def _recv_raw(self, deadline: float) -> bytes:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise self._timed_out()
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(_RAW_CHUNK)
        except (socket.timeout, TimeoutError):
            raise self._timed_out() from None
        except ConnectionResetError:
            raise TlsHandshakeError("the peer reset the connection during the TLS handshake (RST)", "reset") from None
        except OSError as exc:
            raise TlsHandshakeError(f"the TLS handshake failed: {exc.strerror or exc}", "closed") from None
        if not chunk:
            if self.server_side:
                reason = "the client closed the connection during the TLS handshake"
            else:
                reason = (
                    "the server closed the connection during the TLS handshake "
                    "(does it speak TLS on this port?)"
                )
            raise TlsHandshakeError(reason, "closed")
        return chunk

    def _flush(self, deadline: float) -> None:
        with self._lock:
            data = self._outgoing.read()
        if not data:
            return
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise self._timed_out()
        self.sock.settimeout(remaining)
        try:
            self.sock.sendall(data)
        except (socket.timeout, TimeoutError):
            raise self._timed_out() from None
        except OSError as exc:
            raise TlsHandshakeError(
                f"the peer went away during the TLS handshake ({exc.strerror or exc})", "closed"
            ) from None

    def _flush_best_effort(self, deadline: float) -> None:
        try:
            self._flush(min(deadline, time.monotonic() + 0.5))
        except TlsHandshakeError:
            pass

    def _timed_out(self) -> TlsHandshakeError:
        who = "client" if self.server_side else "server"
        return TlsHandshakeError(f"timed out: the {who} did not complete the TLS handshake in time", "timeout")

    def _check_first_bytes(self, chunk: bytes) -> None:
        """Fail at once on a peer that speaks plain text, instead of letting
        OpenSSL wait for the rest of a 'record' that will never come."""
        if self.server_side:
            if chunk[0] != HANDSHAKE:
                raise TlsHandshakeError(PLAIN_TEXT_ON_TLS_PORT, "plaintext")
        elif not looks_like_tls_record(chunk):
            said = printable_excerpt(chunk)
            said = f' (it said: "{said}")' if said else ""
            raise TlsHandshakeError(
                f"the server answered in plain text, not TLS{said}: it is probably running without --tls; "
                "connect without --tls",
                "plaintext",
            )

    def _handshake_ssl_error(self, exc: ssl.SSLError) -> TlsHandshakeError:
        reason = (exc.reason or "").upper()
        if "ALERT" in reason:
            alert = reason.split("ALERT_", 1)[-1].replace("_", " ").lower()
            if self.server_side and alert in ("unknown ca", "bad certificate", "certificate unknown"):
                return TlsHandshakeError(
                    f"the client rejected this server's certificate (TLS alert: {alert}); "
                    "students need the lab's ca.pem and the name or address on the certificate",
                    "rejected",
                )
            peer = "client" if self.server_side else "server"
            return TlsHandshakeError(f"the {peer} refused the TLS handshake (TLS alert: {alert})", "rejected")
        if "WRONG_VERSION_NUMBER" in reason or "HTTP_REQUEST" in reason or "UNKNOWN_PROTOCOL" in reason:
            if self.server_side:
                return TlsHandshakeError(PLAIN_TEXT_ON_TLS_PORT, "plaintext")
            return TlsHandshakeError("the server does not speak TLS on this port: connect without --tls", "plaintext")
        if "UNSUPPORTED_PROTOCOL" in reason or "NO_PROTOCOLS_AVAILABLE" in reason:
            return TlsHandshakeError("the TLS handshake failed: the peer needs a TLS version older than 1.2", "protocol")
        text = (exc.reason or str(exc)).replace("_", " ").lower()
        return TlsHandshakeError(f"the TLS handshake failed ({text})", "protocol")

    # ------------------------------------------------------------------ reading

    def recv(self, bufsize: int) -> bytes:
        """Up to ``bufsize`` bytes of plaintext; blocks like ``socket.recv``.

        Returns ``b""`` only when the peer has finished: a TLS close_notify
        or a TCP FIN (see ``peer_closed``).  Raises ConnectionResetError on an
        RST, like a plain socket, and TlsError on corrupted records.  Call it
        from one thread only (the reader).
        """
        if not self._handshake_done:
            raise TlsError("recv() before the TLS handshake")
        while True:
            data: bytes | None = None
            error: BaseException | None = None
            with self._lock:
                try:
                    data = self._obj.read(bufsize)
                    if not data:  # close_notify from the peer
                        self.peer_closed = "close_notify"
                except ssl.SSLWantReadError:
                    data = None
                except ssl.SSLZeroReturnError:
                    self.peer_closed = "close_notify"
                    data = b""
                except ssl.SSLError as exc:
                    error = exc
                    self._broken = True
                wire_pending = self._outgoing.pending > 0
            if wire_pending and self.on_wire_pending is not None:
                self.on_wire_pending()
            if error is not None:
                raise TlsError(f"TLS error from the peer: {error.reason or error}".replace("_", " ")) from None
            if data is not None:
                return data
            chunk = self.sock.recv(max(bufsize, _RAW_CHUNK))  # blocking; ConnectionResetError passes up
            if not chunk:
                self.peer_closed = self.peer_closed or "eof"
                return b""
            with self._lock:
                self._incoming.write(chunk)

    # ------------------------------------------------------------------ writing

    def encode(self, plaintext: bytes) -> bytes:
        """Encrypt ``plaintext``; return the wire bytes to send (in order!).

        Thread-safe and CPU-only.  Any wire bytes OpenSSL queued earlier
        (see ``on_wire_pending``) come first in the result; ``encode(b"")``
        returns just those.  Never raises: the server calls it from *other*
        clients' threads, and one broken client must not cost them anything.
        After ``close_notify()`` or a fatal TLS error the plaintext is
        dropped and ``b""`` returned (the reader thread sees the failure).
        """
        with self._lock:
            if self._closing or self._broken:
                return self._outgoing.read()
            view = memoryview(plaintext)
            try:
                while view:
                    written = self._obj.write(view)
                    view = view[written:]
            except ssl.SSLError:
                self._broken = True
            return self._outgoing.read()

    def pending_wire(self) -> bytes:
        """Wire bytes OpenSSL produced by itself (alerts, key-update answers);
        usually ``b""``.  Send them in order with everything else."""
        with self._lock:
            return self._outgoing.read()

    def close_notify(self) -> bytes:
        """The wire bytes of a TLS close_notify alert ("I will send no more"),
        preceded by anything still pending.  Later calls return only pending
        bytes; ``encode()`` drops data from now on."""
        with self._lock:
            if not self._closing:
                self._closing = True
                try:
                    self._obj.unwrap()
                except ssl.SSLWantReadError:
                    pass  # our alert is written; the peer's answer is optional
                except ssl.SSLError:
                    pass  # the session is already broken: nothing to add
            return self._outgoing.read()

    def sendall(self, plaintext: bytes) -> None:
        """``encode`` + blocking ``sock.sendall``, ordered by this object's
        send lock.  For owners with no fan-out of their own (the client,
        tests); the server uses ``encode()`` under its delivery lock instead."""
        with self._send_lock:
            self.sock.sendall(self.encode(plaintext))

    @property
    def closed(self) -> bool:
        """True once close_notify() was called or the session broke."""
        return self._closing or self._broken

    # ------------------------------------------------------------------ facts

    def describe(self) -> str:
        """One line for logs, e.g. 'TLSv1.3, TLS_AES_256_GCM_SHA384, server certificate verified'."""
        with self._lock:
            version = self._obj.version() or "TLS"
            cipher = self._obj.cipher()
            verified = bool(self._obj.getpeercert()) if not self.server_side else False
        text = f"{version}, {cipher[0]}" if cipher else version
        if not self.server_side:
            text += ", server certificate verified" if verified else ", server certificate NOT verified (--insecure)"
        return text

    def version(self) -> str | None:
        """The negotiated TLS version, e.g. 'TLSv1.3'."""
        with self._lock:
            return self._obj.version()

    def cipher(self) -> tuple[str, str, int] | None:
        """(cipher name, protocol, secret bits) of the session."""
        with self._lock:
            return self._obj.cipher()

    def getpeercert(self) -> dict | None:
        """The verified peer certificate as a dict (empty when not verified)."""
        with self._lock:
            return self._obj.getpeercert()
