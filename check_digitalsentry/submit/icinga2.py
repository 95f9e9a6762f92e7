"""Icinga 2 API client (submit layer, I/O): one ``POST /v1/actions/process-check-result`` per object, over
HTTPS, with a few keep-alive connections working one queue.

- TLS is verified: against ``--api-ca`` (the CA of the Icinga node's certificate, e.g.
  ``/var/lib/icinga2/certs/ca.crt``), else the system's store; the URL's host must be in the certificate.
  A client certificate (``--api-cert``/``--api-key``) authenticates an ApiUser with ``client_cn``; HTTP
  basic auth the user of ``--api-user`` with the first line of ``--api-password-file``.
- ``CONNECTIONS`` threads, each with its own connection kept alive, take the results in turn: Icinga has
  no bulk endpoint, and a handful of connections keep its API busy without flooding it. The first
  request goes out alone (the others connect meanwhile), so that credentials Icinga refuses are sent once.
- Sent again only where nothing was accepted, with exponential backoff and jitter and never past the
  deadline: a request that did not go out whole (the connection refused, reset or closed, the TLS
  handshake stalled, a name that does not resolve yet) and Icinga's 503 (the object inactive, Icinga
  shutting down: it did not process it). Once a request is out, whole, a lost answer (the connection
  closed or reset, the answer cut short or never come) fails the result and it is *not* sent again:
  Icinga may have processed it, and a second copy would count as a second check result (a soft state's
  next attempt, a second notification) -- Icinga 2.13 takes the same result twice; only 2.14 refuses an
  older one (409). A kept-alive connection the server closed while it was idle is noticed before
  anything is sent on it, and the request goes on a new one. Never sent again either: 404 (no such
  object), 403 (passive checks disabled), 409 (Icinga has a newer result), 400/500.
- An answer is read whole however it ends: with its Content-Length or its last chunk, or -- HTTP/1.0,
  ``Connection: close`` -- with the connection (its body may come in a TLS record of its own, as Python's
  http.server sends it, and a proxy that passes an answer on as it comes: nginx with proxy_buffering off).
- Stopping everything at once (``Submission.fatal``): 401 (wrong user or password), a 403 that is not
  about passive checks (the ApiUser lacks the permission), a certificate that fails verification, a
  TLS error, a host name that does not resolve.
- The credentials never reach the output: every text taken from an answer passes ``Api.redact``
  (``submit.redact``) before it is cut to length and put into a sentence.

- An answer counts only as Icinga's: JSON whose ``results`` hold the one object's code (or an error
  document), at most ``MAX_ANSWER`` bytes, read by the attempt's deadline. Anything else -- a proxy's or
  a login page, a body that is not JSON or too large, a status line that is not HTTP -- is "not an Icinga
  2 API answer", never a success, and not retried (it would only say the same again).
- The files (``--api-password-file``, ``--api-ca``, ``--api-cert``, ``--api-key``) must be regular files
  of at most ``MAX_FILE`` bytes, opened without blocking (a FIFO or a device would hang the run before
  its deadline is even armed); none may be writable by every user, and the password and the key not
  readable by every user either.

Every answer and every network problem ends up as data in the ``Submission``, and so does anything a
worker thread meets that nobody foresaw; nothing raises but ``SetupError`` (bad options, a bad URL or
file, before anything is probed).
"""

from __future__ import annotations

import functools
import http.client
import io
import random
import select
import socket
import ssl
import threading
import time

from check_digitalsentry.outputs import DEFAULT_TTL
from check_digitalsentry.passive import (
    ACCEPTED,
    FAILED,
    IGNORED,
    MISSING,
    REFUSED,
    STALE,
    Destination,
    Receipt,
    Submission,
    object_name,
)
from check_digitalsentry.protocols import icinga2_api
from check_digitalsentry.protocols.icinga2_api import answer, said
from check_digitalsentry.submit.icinga2_setup import Api, SetupError, parse_url, ssl_reason

__all__ = ["Api", "SetupError", "check_options", "parse_url", "prepare", "submit"]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from _typeshed import WriteableBuffer

    from check_digitalsentry.passive import PassiveResult
    from check_digitalsentry.schema import Site


#: Connections (threads) at most: Icinga answers one request per connection at a time.
CONNECTIONS = 4
#: Seconds one attempt (connect, TLS, request, answer) may wait for any one step, at most.
ATTEMPT_TIMEOUT = 5.0
#: Backoff before retry N: BACKOFF_FIRST * 2**(N-1), at most BACKOFF_MAX, times a random 0.5-1.
BACKOFF_FIRST, BACKOFF_MAX = 0.1, 2.0
#: An attempt is not started with less time than this left before the deadline.
MIN_ATTEMPT = 0.05
#: Seconds past the deadline that the workers' last steps may take before they are left behind.
JOIN_GRACE = 0.05
#: Bytes of an answer at most: Icinga's are a few hundred. A larger one is not read further.
MAX_ANSWER = 64 * 1024


def request_body(api: Api, result: PassiveResult) -> bytes:
    """The JSON of one ``process-check-result`` for ``result``, with what ``api`` adds to each."""
    return icinga2_api.request_body(
        f"{result.host}!{result.service}", int(result.state), result.output, result.perfdata, result.started,
        result.ended, check_source=api.check_source, ttl=api.ttl)


def read_answer(response: http.client.HTTPResponse, limit: int = MAX_ANSWER) -> bytes | None:
    """The body of ``response``, or None when it is larger than ``limit`` bytes (what is left is not read:
    close the connection). IncompleteRead when the server closed the connection before its end."""
    if response.length is not None and response.length > limit:
        return None
    data = response.read(limit + 1)
    if len(data) > limit:
        return None
    if response.length:  # fewer bytes than its Content-Length said, and then the end of the connection
        raise http.client.IncompleteRead(data, response.length)
    return data


class _DeadlineIO(io.RawIOBase):
    """The bytes of an answer, read from ``raw`` (the socket's own file) with each read waiting only for the
    time left until ``deadline`` (a ``time.monotonic()`` value): an answer dripped byte by byte, or a stream
    of ``100 Continue``, cannot stretch an attempt past its end.

    ``raw`` keeps the socket open until the answer is read and closed, as ``http.client`` expects of a
    response's file: a server that ends its answer with ``Connection: close`` (or speaks HTTP/1.0) has the
    connection closed by ``http.client`` as soon as the head is read, and the body may still be on its way
    (in a TLS record of its own)."""

    def __init__(self, raw: io.RawIOBase, sock: socket.socket, deadline: float) -> None:
        super().__init__()
        self.raw = raw
        self.sock = sock
        self.deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int | None:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout("the attempt's time is up")
        self.sock.settimeout(remaining)
        return self.raw.readinto(buffer)

    def close(self) -> None:
        if not self.closed:
            self.raw.close()  # the socket's last reference, once http.client has let go of it
        super().close()


class _Response(http.client.HTTPResponse):
    """An answer read through ``_DeadlineIO``."""

    def __init__(self, sock: socket.socket, *args: object, deadline: float, **kwargs: object) -> None:
        super().__init__(sock, *args, **kwargs)  # type: ignore[arg-type]
        raw = self.fp.detach()  # the socket's own file, unbuffered: it holds the socket open
        self.fp = io.BufferedReader(_DeadlineIO(raw, sock, deadline))


class _Connection(http.client.HTTPSConnection):
    """An HTTPS connection that counts the connections it opens, and reads each answer by ``deadline``."""

    def __init__(self, pool: _Pool, gated: bool = False) -> None:
        super().__init__(pool.api.host, pool.api.port, timeout=ATTEMPT_TIMEOUT, context=pool.api.context)
        self.pool = pool
        self.gated = gated  #: sends nothing before the pool's first attempt is over (``_Pool.first``)
        self.deadline = 0.0  #: the current attempt's end (``time.monotonic()``)
        self.reused = False  #: the current attempt went on a connection kept alive from the one before

    def connect(self) -> None:
        with self.pool.lock:
            self.pool.connections += 1
        super().connect()

    def getresponse(self) -> http.client.HTTPResponse:
        self.response_class = functools.partial(_Response, deadline=self.deadline)  # type: ignore[assignment]
        return super().getresponse()

    def stale(self) -> bool:
        """Whether a kept-alive connection has something to read before anything was asked: the server
        closed it while it was idle (EOF, TLS close_notify) or said something unasked (a 408). It is then
        closed, and the next request goes on a new one: nothing was sent on it, so nothing is lost."""
        sock = self.sock
        if sock is None:
            return False
        if isinstance(sock, ssl.SSLSocket) and sock.pending():
            return True
        try:
            if hasattr(select, "poll"):
                poller = select.poll()
                poller.register(sock, select.POLLIN)
                return bool(poller.poll(0))
            return bool(select.select([sock], [], [], 0)[0])
        except (OSError, ValueError):
            return True


class _Fatal(Exception):
    """A problem that no retry can fix, for every result still to go."""


class _Retry(Exception):
    """A problem before the request went out whole (refused, reset, closed, stalled: Icinga cannot have
    processed it), or Icinga's own 503 (it did not): a later attempt may succeed. ``closed``: the server
    closed the connection (a kept-alive one is then tried again at once, on a new connection)."""

    def __init__(self, message: str, closed: bool = False) -> None:
        super().__init__(message)
        self.closed = closed


#: Why a result whose answer was lost is not sent again (said after the loss).
NOT_AGAIN = "; the result was sent, so it is not sent again (Icinga may have processed it)"


class _Pool:
    """The queue of results and the workers that deliver them."""

    def __init__(self, api: Api, results: Sequence[PassiveResult], deadline: float) -> None:
        self.api = api
        self.results = list(results)
        self.deadline = deadline
        self.lock = threading.Lock()
        self.next = 0
        self.receipts: list[Receipt | None] = [None] * len(self.results)
        self.last_error: dict[int, str] = {}
        self.fatal = ""
        self.requests = self.retries = self.connections = 0
        #: set once the first worker's first attempt is over: the other workers connect meanwhile, but send
        #: nothing before it, so that credentials Icinga refuses (401) go out once, not once a connection
        self.first = threading.Event()

    def take(self) -> int | None:
        with self.lock:
            if self.fatal or self.next >= len(self.results):
                return None
            self.next += 1
            return self.next - 1

    def stop(self, reason: str) -> None:
        with self.lock:
            self.fatal = self.fatal or reason

    def work(self, first: bool = False) -> None:
        connection: _Connection | None = None
        try:
            while True:
                index = self.take()
                if index is None:
                    return
                try:
                    connection = connection or _Connection(self, gated=not first)
                    receipt = self.deliver(index, connection)
                except Exception as exc:  # nobody foresaw it: this result's receipt, not a traceback
                    if connection is not None:
                        connection.close()
                    what = said(exc, clean=self.api.redact) or "no details"
                    receipt = Receipt(self.results[index], FAILED, f"unexpected {type(exc).__name__} while "
                                      f"submitting to {self.api.where}: {what}")
                self.receipts[index] = receipt
        finally:
            if first:
                self.first.set()
            if connection is not None:
                connection.close()

    def deliver(self, index: int, connection: _Connection) -> Receipt:
        result = self.results[index]
        body = request_body(self.api, result)
        attempts = 0
        while True:
            remaining = self.deadline - time.monotonic()
            if remaining < MIN_ATTEMPT:
                last = self.last_error.get(index)
                if last:
                    return Receipt(result, FAILED, f"{last}; no time left to try again", attempts)
                return Receipt(result, FAILED, "the run's time was up", attempts, sent=False)
            attempts += 1
            try:
                timeout = min(remaining - MIN_ATTEMPT / 2, ATTEMPT_TIMEOUT)  # ends before the deadline
                return self.attempt(result, connection, body, timeout, attempts)
            except _Fatal as exc:
                connection.close()
                self.stop(str(exc))
                return Receipt(result, FAILED, str(exc), attempts)
            except _Retry as exc:
                self.last_error[index] = str(exc)
                if exc.closed and connection.reused:
                    continue  # a kept-alive connection the server had closed: at once, on a new one
            finally:
                if not connection.gated:
                    self.first.set()
            delay = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** (attempts - 1)) * random.uniform(0.5, 1.0)
            if time.monotonic() + delay + MIN_ATTEMPT >= self.deadline:
                tries = f"{attempts} attempt{'s' if attempts > 1 else ''}"
                return Receipt(result, FAILED, self.last_error[index], attempts,
                               retried=f" (after {tries}; no time left to try again)")
            time.sleep(delay)

    def attempt(self, result: PassiveResult, connection: _Connection, body: bytes, timeout: float,
                attempts: int) -> Receipt:
        """One request and its answer. Retried (``_Retry``) only what Icinga cannot have processed: a
        request that did not go out whole, or Icinga's 503. Once the request is out, whatever becomes of
        the answer, it is not sent again: Icinga may have processed it, and a second copy would count as
        a second check result (a soft state's next attempt, another notification)."""
        api = self.api
        where = api.where
        connection.timeout = timeout
        connection.deadline = time.monotonic() + timeout  # the answer is read by then (_DeadlineIO)
        if connection.stale():
            connection.close()
        connection.reused = connection.sock is not None
        if connection.sock is not None:
            connection.sock.settimeout(timeout)
        try:
            if connection.gated and not self.first.is_set():
                if connection.sock is None:
                    connection.connect()  # meanwhile: the connection and its handshake, nothing sent
                if not self.first.wait(max(0.0, connection.deadline - time.monotonic())):
                    return Receipt.not_sent(result, f"{where} had not answered the first request within "
                                                    f"{timeout:.1f} s")
            if self.fatal:
                return Receipt.not_sent(result, self.fatal)
            with self.lock:
                self.requests += 1
                self.retries += attempts > 1
            connection.request("POST", api.path, body, api.headers)
        except ssl.SSLCertVerificationError as exc:
            raise _Fatal(f"TLS: the certificate of {where} failed verification: {exc.verify_message} "
                         "(--api-ca: the CA of the Icinga node's certificate, e.g. /var/lib/icinga2/certs/ca.crt; "
                         "--api-url: a name in that certificate)") from None
        except (ssl.SSLEOFError, ssl.SSLZeroReturnError):
            connection.close()
            raise _closed(f"{where} closed the TLS connection") from None
        except ssl.SSLError as exc:
            raise _Fatal(f"TLS with {where}: {ssl_reason(exc)}") from None
        except socket.gaierror as exc:
            if exc.errno == socket.EAI_AGAIN:
                connection.close()
                raise _Retry(f"cannot resolve {api.host}: {exc.strerror}") from None
            raise _Fatal(f"cannot resolve {api.host}: {exc.strerror}") from None
        except socket.timeout:
            connection.close()
            raise _Retry(f"{where} did not answer within {timeout:.1f} s") from None
        except ConnectionRefusedError:
            connection.close()
            raise _Retry(f"{where} refused the connection (is Icinga 2 running, with an ApiListener on "
                         f"port {api.port}?)") from None
        except (ConnectionResetError, BrokenPipeError) as exc:
            connection.close()
            raise _closed(f"{where} closed the connection ({type(exc).__name__})") from None
        except OSError as exc:
            connection.close()
            raise _Retry(f"{where}: {exc.strerror or exc or type(exc).__name__}") from None
        # The request is out, whole: from here on nothing is retried but Icinga's own 503.
        response: http.client.HTTPResponse | None = None
        try:
            response = connection.getresponse()
            data = read_answer(response)
        except (OSError, http.client.HTTPException) as exc:  # OSError: socket.timeout and ssl.SSLError too
            if response is not None:
                response.close()  # the socket's last reference: closed now, not when collected
            connection.close()
            return self.unanswered(result, exc, response is not None, timeout, attempts)
        status = response.status
        if data is None or response.will_close:
            response.close()
            connection.close()  # the rest of it is not read, or the server closes it
        if data is None:
            return Receipt(result, FAILED, f"not an Icinga 2 API answer (HTTP {status}: larger than {MAX_ANSWER} "
                                           "bytes)", attempts)
        code, words = answer(status, data, api.redact)
        name = object_name(result)
        if code == 401 or status == 401:
            raise _Fatal(f"401 Unauthorized: Icinga 2 refused {api.who}")
        if code == 503 or status == 503:
            raise _Retry(f"503 Service Unavailable ({words})")
        if code is None or (200 <= code < 300 and not 200 <= status < 300):
            what = words if code is None else f"code {code} in the results"
            location = response.getheader("Location") if 300 <= status < 400 else None
            moved = f" to {said(location, 100, api.redact)}" if location else ""
            return Receipt(result, FAILED, f"not an Icinga 2 API answer (HTTP {status}{moved}: {what})", attempts)
        if 200 <= code < 300:
            lowered = words.lower()
            if "ignoring" in lowered or "unreachable" in lowered:
                return Receipt(result, IGNORED, f"Icinga ignored the result for {name}: {words}", attempts)
            return Receipt(result, ACCEPTED, words, attempts)
        if code == 403:
            if "passive" in words.lower():
                return Receipt(result, REFUSED, f"Icinga takes no passive results for {name} (403: {words})",
                               attempts)
            raise _Fatal(f"403 Forbidden ({words}): the ApiUser needs permissions = "
                         '[ "actions/process-check-result" ]')
        if code == 404:
            return Receipt(result, MISSING, f"Icinga has no {name}", attempts)
        if code == 409:
            return Receipt(result, STALE, f"Icinga has a newer result for {name} (409: {words})", attempts)
        return Receipt(result, FAILED, f"HTTP {code} for {name}: {words}", attempts)

    def unanswered(self, result: PassiveResult, exc: OSError | http.client.HTTPException, began: bool,
                   timeout: float, attempts: int) -> Receipt:
        """The receipt of a request that went out whole and got no answer (``began``: its head came): failed,
        and never sent again -- but a head that is not HTTP is "not an Icinga 2 API answer"."""
        where = self.api.where
        if isinstance(exc, socket.timeout):
            why = f"{where} {'did not finish its answer' if began else 'did not answer'} within {timeout:.1f} s"
        elif isinstance(exc, (ssl.SSLEOFError, ssl.SSLZeroReturnError)):
            why = f"{where} closed the TLS connection before its answer"
        elif isinstance(exc, (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)):
            why = f"{where} closed the connection before its answer ({type(exc).__name__})"
        elif isinstance(exc, http.client.IncompleteRead):
            why = (f"{where} closed the connection before the end of its answer ({len(exc.partial)} bytes read, "
                   f"{exc.expected} more expected)")
        elif isinstance(exc, http.client.HTTPException):  # a status line or header that is not HTTP
            return Receipt(result, FAILED, f"not an Icinga 2 API answer ({where}: "
                                           f"{said(exc, 80, self.api.redact) or type(exc).__name__})", attempts)
        elif isinstance(exc, ssl.SSLError):
            why = f"{where}: {ssl_reason(exc)}"
        else:
            why = f"{where}: {exc.strerror or exc or type(exc).__name__}"
        return Receipt(result, FAILED, why + NOT_AGAIN, attempts)


def _closed(message: str) -> _Retry:
    return _Retry(message, closed=True)


def submit(api: Api, results: Sequence[PassiveResult], deadline: float,
           connections: int = CONNECTIONS) -> Submission:
    """Post every result, by ``deadline`` (a ``time.monotonic()`` value), on at most ``connections``
    connections; what became of each."""
    started = time.monotonic()
    pool = _Pool(api, results, deadline)
    workers = [threading.Thread(target=pool.work, args=(n == 0,), name=f"icinga2-{n}", daemon=True)
               for n in range(max(1, min(connections, len(results))))]
    for worker in workers:
        worker.start()
    for worker in workers:  # each attempt's steps are bounded; this bounds the whole, whatever happens
        worker.join(max(0.0, deadline + JOIN_GRACE - time.monotonic()))
    with pool.lock:
        late = any(worker.is_alive() for worker in workers)
        receipts = []
        for index, (result, receipt) in enumerate(zip(pool.results, pool.receipts)):
            if receipt is None:
                last = pool.last_error.get(index)
                if pool.fatal and index >= pool.next:
                    receipt = Receipt.not_sent(result, pool.fatal)
                elif last:
                    receipt = Receipt(result, FAILED, f"{last}; the run's time was up")
                elif index < pool.next:
                    receipt = Receipt(result, FAILED, "no answer before the run's deadline")
                else:
                    receipt = Receipt.not_sent(result, "the run's time was up")
            receipts.append(receipt)
        if late:
            pool.next = len(pool.results)  # the workers left behind take nothing more
    hint = ""
    if receipts and all(receipt.kind == MISSING for receipt in receipts):
        hint = ("if these objects exist, the ApiUser lacks the permission actions/process-check-result: Icinga "
                "answers 404 for that too")
    return Submission(receipts, fatal=pool.fatal, seconds=time.monotonic() - started, requests=pool.requests,
                      retries=pool.retries, connections=pool.connections, hint=hint)


# --- the target (``outputs.Target``): its options, the checks before probing, the destination --------

MAX_TTL = 7 * 86400.0  #: a week


def ttl(text: str | None) -> float:
    """``--ttl`` in seconds (default ``DEFAULT_TTL``; 0: none); SetupError otherwise."""
    if text is None:
        return DEFAULT_TTL
    word = text.strip()
    if word and word.replace(".", "", 1).isdecimal() and word.isascii() and float(word) <= MAX_TTL:
        return float(word)
    raise SetupError(f"--ttl: expected seconds >= 0 and <= {MAX_TTL:g} (0: no ttl), got {text!r}")


def check_options(values: Mapping[str, str | None]) -> None:
    """What goes together among ``--submit icinga2``'s options (dest -> the word given, or None)."""
    if not values.get("api_url"):
        raise SetupError("--submit icinga2 needs --api-url https://HOST:5665")
    user, password = values.get("api_user"), values.get("api_password_file")
    cert, key = values.get("api_cert"), values.get("api_key")
    if not user and not cert:
        raise SetupError("--submit icinga2 needs --api-user USER --api-password-file FILE, or --api-cert FILE "
                         "--api-key FILE")
    if bool(cert) != bool(key):
        raise SetupError("--api-cert and --api-key go together (the client certificate and its key)")
    if bool(user) != bool(password):
        raise SetupError("--api-user and --api-password-file go together (the ApiUser and its password)")
    if user and cert:
        raise SetupError("--api-user and --api-cert cannot be combined: give one way to authenticate (an "
                         "ApiUser's password, or a client certificate for an ApiUser with client_cn)")
    ttl(values.get("ttl"))


class _Icinga2(Destination):
    def __init__(self, api: Api) -> None:
        self.api = api
        self.where = f"Icinga 2 at {api.url}"

    def submit(self, results: Sequence[PassiveResult], deadline: float) -> Submission:
        return submit(self.api, results, deadline)


def prepare(values: Mapping[str, str | None], sites: Sequence[Site], inventory: str) -> Destination:
    """The API, checked before anything is probed: the URL, the credentials' files, the TLS context."""
    api_url = values.get("api_url")
    assert api_url is not None
    source = values.get("check_source") or socket.gethostname()
    return _Icinga2(Api(api_url, user=values.get("api_user"), password_file=values.get("api_password_file"),
                        ca=values.get("api_ca"), cert=values.get("api_cert"), key=values.get("api_key"),
                        ttl=ttl(values.get("ttl")), check_source=source))
