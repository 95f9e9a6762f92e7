"""Icinga 2 API client (submit layer, I/O): one ``POST /v1/actions/process-check-result`` per object, over
HTTPS, with a few keep-alive connections working one queue.

- TLS is verified: against ``--api-ca`` (the CA of the Icinga node's certificate, e.g.
  ``/var/lib/icinga2/certs/ca.crt``), else the system's store; the URL's host must be in the certificate.
  A client certificate (``--api-cert``/``--api-key``) authenticates an ApiUser with ``client_cn``; HTTP
  basic auth the user of ``--api-user`` with the first line of ``--api-password-file``.
- ``CONNECTIONS`` threads, each with its own connection kept alive, take the results in turn: Icinga has
  no bulk endpoint, and a handful of connections keep its API busy without flooding it.
- Retried, with exponential backoff and jitter and never past the deadline: 503 (the object inactive, or
  Icinga shutting down) and connection errors (refused, reset, closed, stalled). Never retried: 404 (no
  such object), 403 (passive checks disabled), 409 (Icinga has a newer result), 400/500.
- Stopping everything at once (``Submission.fatal``): 401 (wrong user or password), a 403 that is not
  about passive checks (the ApiUser lacks the permission), a certificate that fails verification, a
  TLS error, a host name that does not resolve.

Every answer and every network problem ends up as data in the ``Submission``; nothing raises but
``SetupError`` (bad options, before anything is probed).
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import random
import socket
import ssl
import stat
import threading
import time

from check_digitalsentry import __version__
from check_digitalsentry.passive import (
    ACCEPTED,
    FAILED,
    IGNORED,
    MISSING,
    REFUSED,
    STALE,
    Outcome,
    Submission,
    object_name,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from check_digitalsentry.passive import PassiveResult

ACTION = "/v1/actions/process-check-result"
DEFAULT_PORT = 5665
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


class SetupError(Exception):
    """A submit option that cannot work (one line, naming the option): the run stops before probing."""


class Api:
    """Where and how to submit: the API's address, TLS context and credentials, and what each result
    carries besides its own content (``check_source``, ``ttl`` in seconds, 0 for none)."""

    def __init__(self, url: str, *, user: str | None = None, password_file: str | None = None,
                 ca: str | None = None, cert: str | None = None, key: str | None = None,
                 check_source: str = "", ttl: float = 0.0) -> None:
        self.url = url.rstrip("/")
        self.host, self.port, prefix = parse_url(url)
        self.path = prefix + ACTION
        self.user = user
        self.check_source = check_source
        self.ttl = ttl
        self.headers = {"Accept": "application/json", "Content-Type": "application/json",
                        "User-Agent": f"check_digitalsentry/{__version__}"}
        if user is not None:
            if password_file is None:
                raise SetupError("--api-user needs --api-password-file (the ApiUser's password)")
            if ":" in user:
                raise SetupError(f"--api-user {user!r}: a user name for HTTP basic auth has no ':'")
            password = read_password(password_file)
            token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
            self.headers["Authorization"] = f"Basic {token}"
        elif password_file is not None:
            raise SetupError("--api-password-file needs --api-user")
        self.context = tls_context(ca, cert, key)

    @property
    def who(self) -> str:
        """How the credentials are named in a sentence."""
        if self.user is not None:
            return f"--api-user {self.user} and its --api-password-file"
        return "the client certificate (--api-cert; an ApiUser with client_cn)"


def parse_url(url: str) -> tuple[str, int, str]:
    """``https://HOST[:PORT][/PREFIX]`` -> (host, port, prefix); SetupError for anything else."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise SetupError(f"--api-url {url!r}: {exc}") from None
    if parts.scheme != "https":
        raise SetupError(f"--api-url {url!r}: expected https://HOST:5665 (Icinga 2's API speaks HTTPS only)")
    if not parts.hostname:
        raise SetupError(f"--api-url {url!r}: no host name")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise SetupError(f"--api-url {url!r}: expected https://HOST:PORT, without user, query or fragment")
    return parts.hostname, port or DEFAULT_PORT, parts.path.rstrip("/")


def read_password(path: str) -> str:
    """The first line of a password file (without its line end). A file that every user may read is
    refused, as ssh refuses a private key that others can read: the ApiUser's password may post results."""
    try:
        with open(path, "rb") as fh:
            mode = os.fstat(fh.fileno()).st_mode
            data = fh.read(4096)
    except OSError as exc:
        raise SetupError(f"--api-password-file {path}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(mode):
        raise SetupError(f"--api-password-file {path}: not a regular file")
    if mode & (stat.S_IROTH | stat.S_IWOTH):
        raise SetupError(f"--api-password-file {path}: every user may read it (mode {stat.S_IMODE(mode):04o}): "
                         f"chmod o-rw {path}")
    line = data.split(b"\n", 1)[0].rstrip(b"\r")
    try:
        password = line.decode("utf-8")
    except UnicodeDecodeError:
        raise SetupError(f"--api-password-file {path}: its first line is not UTF-8") from None
    if not password:
        raise SetupError(f"--api-password-file {path}: its first line is empty (the password goes there)")
    return password


def tls_context(ca: str | None, cert: str | None, key: str | None) -> ssl.SSLContext:
    """A verifying client context: ``ca`` (PEM) or the system's store, and the client certificate."""
    try:
        context = ssl.create_default_context(cafile=ca)
    except FileNotFoundError:
        raise SetupError(f"--api-ca {ca}: no such file") from None
    except (ssl.SSLError, OSError) as exc:
        raise SetupError(f"--api-ca {ca}: not a PEM certificate ({_ssl_reason(exc)})") from None
    if cert is not None or key is not None:
        if cert is None or key is None:
            raise SetupError("--api-cert and --api-key go together (the client certificate and its key)")
        try:
            context.load_cert_chain(cert, key)
        except FileNotFoundError as exc:
            raise SetupError(f"--api-cert/--api-key: {exc.filename or cert}: no such file") from None
        except (ssl.SSLError, OSError) as exc:
            raise SetupError(f"--api-cert {cert} --api-key {key}: {_ssl_reason(exc)}") from None
    return context


def _ssl_reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or str(exc)
    return str(reason).replace("_", " ").lower() if isinstance(reason, str) and reason.isupper() else str(reason)


def request_body(api: Api, result: PassiveResult) -> bytes:
    """The JSON of one ``process-check-result``: the object by name (``HOST!SERVICE``), the result."""
    body: dict[str, object] = {
        "type": "Service", "service": f"{result.host}!{result.service}", "exit_status": int(result.state),
        "plugin_output": result.output, "performance_data": result.perfdata,
        "execution_start": round(result.started, 6), "execution_end": round(result.ended, 6),
    }
    if api.check_source:
        body["check_source"] = api.check_source
    if api.ttl:
        body["ttl"] = api.ttl
    return json.dumps(body).encode("utf-8")


def answer(status: int, data: bytes) -> tuple[int, str]:
    """The code and the words of an Icinga answer: an action's own result (``results[0]``), else the
    error document (``{"error": 404, "status": "No objects found."}``), else the start of the body."""
    try:
        doc = json.loads(data)
    except ValueError:
        doc = None
    if isinstance(doc, dict):
        results = doc.get("results")
        if isinstance(results, list) and results and isinstance(results[0], dict):
            item = results[0]
            try:
                code = int(item.get("code", status))
            except (TypeError, ValueError):
                code = status
            return code, str(item.get("status", ""))
        if "status" in doc:
            return status, str(doc["status"])
    text = data[:200].decode("utf-8", "replace").strip()
    return status, " ".join(text.split()) or http.client.responses.get(status, "")


class _Connection(http.client.HTTPSConnection):
    """An HTTPS connection that counts the connections it opens."""

    def __init__(self, pool: _Pool) -> None:
        super().__init__(pool.api.host, pool.api.port, timeout=ATTEMPT_TIMEOUT, context=pool.api.context)
        self.pool = pool

    def connect(self) -> None:
        with self.pool.lock:
            self.pool.connections += 1
        super().connect()


class _Fatal(Exception):
    """A problem that no retry can fix, for every result still to go."""


class _Retry(Exception):
    """A problem that a later attempt may not have (503, a connection error)."""


class _Pool:
    """The queue of results and the workers that deliver them."""

    def __init__(self, api: Api, results: Sequence[PassiveResult], deadline: float) -> None:
        self.api = api
        self.results = list(results)
        self.deadline = deadline
        self.lock = threading.Lock()
        self.next = 0
        self.outcomes: list[Outcome | None] = [None] * len(self.results)
        self.last_error: dict[int, str] = {}
        self.fatal = ""
        self.requests = self.retries = self.connections = 0

    def take(self) -> int | None:
        with self.lock:
            if self.fatal or self.next >= len(self.results):
                return None
            self.next += 1
            return self.next - 1

    def stop(self, reason: str) -> None:
        with self.lock:
            self.fatal = self.fatal or reason

    def work(self) -> None:
        connection = _Connection(self)
        try:
            while True:
                index = self.take()
                if index is None:
                    return
                self.outcomes[index] = self.deliver(index, connection)
        finally:
            connection.close()

    def deliver(self, index: int, connection: _Connection) -> Outcome:
        result = self.results[index]
        body = request_body(self.api, result)
        attempts = 0
        while True:
            remaining = self.deadline - time.monotonic()
            if remaining < MIN_ATTEMPT:
                last = self.last_error.get(index)
                reason = f"{last}; no time left to try again" if last else "not sent: the run's time was up"
                return Outcome(result, FAILED, reason, attempts)
            reused = connection.sock is not None
            attempts += 1
            with self.lock:
                self.requests += 1
                self.retries += attempts > 1
            try:
                timeout = min(remaining - MIN_ATTEMPT / 2, ATTEMPT_TIMEOUT)  # ends before the deadline
                return self.attempt(result, connection, body, timeout, attempts)
            except _Fatal as exc:
                connection.close()
                self.stop(str(exc))
                return Outcome(result, FAILED, str(exc), attempts)
            except _Retry as exc:
                self.last_error[index] = str(exc)
                if reused and getattr(exc, "closed", False):
                    continue  # a kept-alive connection the server had closed: at once, on a new one
            delay = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** (attempts - 1)) * random.uniform(0.5, 1.0)
            if time.monotonic() + delay + MIN_ATTEMPT >= self.deadline:
                tries = f"{attempts} attempt{'s' if attempts > 1 else ''}"
                why = f"{self.last_error[index]} (after {tries}; no time left to try again)"
                return Outcome(result, FAILED, why, attempts)
            time.sleep(delay)

    def attempt(self, result: PassiveResult, connection: _Connection, body: bytes, timeout: float,
                attempts: int) -> Outcome:
        api = self.api
        where = f"{api.host}:{api.port}"
        connection.timeout = timeout
        if connection.sock is not None:
            connection.sock.settimeout(timeout)
        try:
            connection.request("POST", api.path, body, api.headers)
            response = connection.getresponse()
            data = response.read()
        except ssl.SSLCertVerificationError as exc:
            raise _Fatal(f"TLS: the certificate of {where} failed verification: {exc.verify_message} "
                         "(--api-ca: the CA of the Icinga node's certificate, e.g. /var/lib/icinga2/certs/ca.crt; "
                         "--api-url: a name in that certificate)") from None
        except (ssl.SSLEOFError, ssl.SSLZeroReturnError):
            connection.close()
            raise _closed(f"{where} closed the TLS connection") from None
        except ssl.SSLError as exc:
            raise _Fatal(f"TLS with {where}: {_ssl_reason(exc)}") from None
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
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
            connection.close()
            raise _closed(f"{where} closed the connection ({type(exc).__name__})") from None
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            raise _Retry(f"{where}: {getattr(exc, 'strerror', None) or exc or type(exc).__name__}") from None
        if response.will_close:
            connection.close()
        code, words = answer(response.status, data)
        name = object_name(result)
        if 200 <= code < 300:
            lowered = words.lower()
            if "ignoring" in lowered or "unreachable" in lowered:
                return Outcome(result, IGNORED, f"Icinga ignored the result for {name}: {words}", attempts)
            return Outcome(result, ACCEPTED, words, attempts)
        if code == 401 or response.status == 401:
            raise _Fatal(f"401 Unauthorized: Icinga 2 refused {api.who}")
        if code == 403:
            if "passive" in words.lower():
                return Outcome(result, REFUSED, f"Icinga takes no passive results for {name} (403: {words})",
                               attempts)
            raise _Fatal(f"403 Forbidden ({words}): the ApiUser needs permissions = "
                         '[ "actions/process-check-result" ]')
        if code == 404:
            return Outcome(result, MISSING, f"Icinga has no {name}", attempts)
        if code == 409:
            return Outcome(result, STALE, f"Icinga has a newer result for {name} (409: {words})", attempts)
        if code == 503:
            raise _Retry(f"503 Service Unavailable ({words})")
        return Outcome(result, FAILED, f"HTTP {code} for {name}: {words}", attempts)


def _closed(message: str) -> _Retry:
    error = _Retry(message)
    error.closed = True  # type: ignore[attr-defined]
    return error


def submit(api: Api, results: Sequence[PassiveResult], deadline: float,
           connections: int = CONNECTIONS) -> Submission:
    """Post every result, by ``deadline`` (a ``time.monotonic()`` value), on at most ``connections``
    connections; what became of each."""
    started = time.monotonic()
    pool = _Pool(api, results, deadline)
    workers = [threading.Thread(target=pool.work, name=f"icinga2-{n}", daemon=True)
               for n in range(max(1, min(connections, len(results))))]
    for worker in workers:
        worker.start()
    for worker in workers:  # each attempt's steps are bounded; this bounds the whole, whatever happens
        worker.join(max(0.0, deadline + JOIN_GRACE - time.monotonic()))
    with pool.lock:
        late = any(worker.is_alive() for worker in workers)
        outcomes = []
        for index, (result, outcome) in enumerate(zip(pool.results, pool.outcomes)):
            if outcome is None:
                last = pool.last_error.get(index)
                reason = (f"not sent: {pool.fatal}" if pool.fatal and index >= pool.next
                          else f"{last}; the run's time was up" if last
                          else "no answer before the run's deadline" if index < pool.next
                          else "not sent: the run's time was up")
                outcome = Outcome(result, FAILED, reason)
            outcomes.append(outcome)
        if late:
            pool.next = len(pool.results)  # the workers left behind take nothing more
    return Submission(outcomes, fatal=pool.fatal, seconds=time.monotonic() - started, requests=pool.requests,
                      retries=pool.retries, connections=pool.connections)
