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

import base64
import contextlib
import functools
import http.client
import io
import ipaddress
import os
import random
import re
import socket
import ssl
import stat
import threading
import time

from check_digitalsentry import __version__, files
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
from check_digitalsentry.protocols import icinga2_api
from check_digitalsentry.protocols.icinga2_api import answer
from check_digitalsentry.protocols.icinga2_api import words as _words

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from _typeshed import WriteableBuffer

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
#: Bytes of an answer at most: Icinga's are a few hundred. A larger one is not read further.
MAX_ANSWER = 64 * 1024
#: Bytes of a password, CA, certificate or key file at most (a system's CA bundle is a few hundred KiB).
MAX_FILE = 1 << 20


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
            if not user:
                raise SetupError("--api-user '': an empty name (the ApiUser's)")
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

    @property
    def where(self) -> str:
        """``HOST:PORT``, an IPv6 address in brackets: ``[::1]:5665``."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


#: What a host name may hold once IDNA-encoded: letters, digits, '-', '_' (SRV-style names) and dots.
_HOST_NAME = re.compile(r"[a-z0-9_]([a-z0-9_.-]*[a-z0-9_.])?")


def parse_url(url: str) -> tuple[str, int, str]:
    """``https://HOST[:PORT][/PREFIX]`` -> (host, port, prefix); SetupError for anything else.

    HOST is a DNS name (IDNA-encodable: it is returned ASCII, ``xn--...``), an IPv4 address or an IPv6
    address in brackets (returned without them; a zone id, ``%eth0``, is refused); PORT 1-65535 (default
    5665); PREFIX printable ASCII without spaces (a reverse proxy's path before ``/v1``)."""
    from urllib.parse import urlsplit

    def bad(why: str) -> SetupError:
        return SetupError(f"--api-url {url!r}: {why}")

    if any(ord(c) <= 32 or ord(c) == 127 for c in url):
        raise bad("a space or a control character (expected https://HOST:5665)")
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise bad(str(exc)) from None
    if parts.scheme != "https":
        raise bad("expected https://HOST:5665 (Icinga 2's API speaks HTTPS only)")
    if parts.query or parts.fragment or "@" in parts.netloc:
        raise bad("expected https://HOST:PORT, without user, query or fragment")
    netloc = parts.netloc
    if netloc.startswith("["):
        inside, bracket, rest = netloc[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise bad("expected an IPv6 address in brackets: https://[ADDRESS]:5665")
        if "%" in inside:
            raise bad(f"an IPv6 zone id ({inside[inside.index('%'):]}) is not supported: use a global address "
                      "or a host name")
        try:
            host = str(ipaddress.IPv6Address(inside))
        except ValueError:
            raise bad(f"{inside!r} is not an IPv6 address") from None
        port_text = rest[1:] if rest else None
    else:
        if netloc.count(":") > 1:
            raise bad("an IPv6 address goes in brackets: https://[ADDRESS]:5665")
        name, colon, port_text_ = netloc.partition(":")
        port_text = port_text_ if colon else None
        host = _host_name(name, bad)
    port = DEFAULT_PORT
    if port_text is not None:
        if not (port_text.isascii() and port_text.isdigit() and 1 <= int(port_text) <= 65535):
            raise bad(f"port {port_text!r}: expected 1-65535 (Icinga 2's API: 5665)")
        port = int(port_text)
    if not parts.path.isascii():
        raise bad("a path of ASCII characters only (percent-encode the others)")
    prefix = parts.path.rstrip("/")
    if prefix.endswith("/v1"):  # https://HOST:5665/v1, as Icinga's docs write the API's URLs: its root
        prefix = prefix[:-3]
    return host, port, prefix


def _host_name(name: str, bad: Callable[[str], SetupError]) -> str:
    """A host name or IPv4 address of a URL, ASCII (IDNA) and lower case."""
    if not name:
        raise bad("no host name")
    with contextlib.suppress(ValueError):
        return str(ipaddress.IPv4Address(name))
    try:
        ascii_name = name.encode("idna").decode("ascii").lower()
    except UnicodeError as exc:
        why = str(exc.__cause__ or exc).split("(UnicodeError: ")[-1].rstrip(")")
        raise bad(f"host name {name!r}: not a DNS name ({why})") from None
    if not _HOST_NAME.fullmatch(ascii_name) or ".." in ascii_name:
        raise bad(f"host name {name!r}: not a DNS name (letters, digits, '-', '_' and single dots, not "
                  "beginning with '-' or '.')")
    return ascii_name


@contextlib.contextmanager
def _checked_file(option: str, path: str, *, secret: bool = False) -> Iterator[tuple[str, bytes]]:
    """Open ``path`` for ``option`` the safe way; yield (a name OpenSSL can open that is the very file
    checked, the file's bytes). SetupError, one line naming ``option``, for anything but a regular file of
    at most ``MAX_FILE`` bytes that not every user may write (anyone could swap the CA, the password...)
    nor, with ``secret``, read."""
    shown = path or "''"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)  # a FIFO must not block the open
    except OSError as exc:
        raise SetupError(f"{option} {shown}: {exc.strerror or exc}") from None
    try:
        data = _read_checked(fd, f"{option} {shown}", secret)
        # OpenSSL opens files by name: /proc/self/fd/N (Linux) reopens this very file, whatever the path
        # names by now; elsewhere the path itself.
        proc = f"/proc/self/fd/{fd}"
        yield (proc if os.path.exists(proc) else path), data
    finally:
        os.close(fd)


def _read_checked(fd: int, named: str, secret: bool) -> bytes:
    """The bytes of the file open at ``fd``, checked with ``fstat`` before anything is read (see
    ``_checked_file``); ``named`` is the option and the path, for the message."""
    try:
        info = os.fstat(fd)
        mode = info.st_mode
        if not stat.S_ISREG(mode):
            raise SetupError(f"{named}: {files.kind(mode)}, not a regular file")
        if info.st_size > MAX_FILE:
            raise SetupError(f"{named}: {info.st_size} bytes, more than such a file holds (at most "
                             f"{MAX_FILE >> 20} MiB)")
        others = [word for bit, word in ((stat.S_IROTH, "read"), (stat.S_IWOTH, "write"))
                  if mode & bit and (secret or bit == stat.S_IWOTH)]
        if others:
            raise SetupError(f"{named}: every user may {' and '.join(others)} it (mode {stat.S_IMODE(mode):04o}): "
                             f"chmod o-rw {named.split(' ', 1)[1]}")
        data = files.read_capped(fd, MAX_FILE)
    except OSError as exc:
        raise SetupError(f"{named}: {exc.strerror or exc}") from None
    if data is None:
        raise SetupError(f"{named}: more than {MAX_FILE >> 20} MiB")
    return data


def read_password(path: str) -> str:
    """The first line of a password file (without its line end). A file that every user may read or write
    is refused, as ssh refuses a private key that others can read: the ApiUser's password may post results."""
    with _checked_file("--api-password-file", path, secret=True) as (_, data):
        pass
    line = data.split(b"\n", 1)[0].rstrip(b"\r")
    try:
        password = line.decode("utf-8")
    except UnicodeDecodeError:
        raise SetupError(f"--api-password-file {path}: its first line is not UTF-8") from None
    if not password:
        raise SetupError(f"--api-password-file {path}: its first line is empty (the password goes there)")
    return password


class _Encrypted(Exception):
    """OpenSSL asked for the key's passphrase (it would prompt on a terminal, or fail in cron)."""


def _no_passphrase() -> str:
    raise _Encrypted


def tls_context(ca: str | None, cert: str | None, key: str | None) -> ssl.SSLContext:
    """A verifying client context: ``ca`` (PEM) or the system's store, and the client certificate."""
    if ca is None:
        context = ssl.create_default_context()
    else:
        with _checked_file("--api-ca", ca) as (path, _):
            try:
                context = ssl.create_default_context(cafile=path)
            except (ssl.SSLError, OSError) as exc:
                raise SetupError(f"--api-ca {ca}: not a PEM certificate ({_ssl_reason(exc)})") from None
    if cert is not None or key is not None:
        if cert is None or key is None:
            raise SetupError("--api-cert and --api-key go together (the client certificate and its key)")
        with _checked_file("--api-cert", cert) as (cert_path, cert_data), \
                _checked_file("--api-key", key, secret=True) as (key_path, key_data):
            if b"-----BEGIN CERTIFICATE-----" not in cert_data:
                raise SetupError(f"--api-cert {cert}: not a PEM certificate (no -----BEGIN CERTIFICATE----- line)")
            if not re.search(rb"-----BEGIN [A-Z ]*PRIVATE KEY-----", key_data):
                raise SetupError(f"--api-key {key}: not a PEM private key (no -----BEGIN ... PRIVATE KEY----- "
                                 "line)")
            try:
                context.load_cert_chain(cert_path, key_path, password=_no_passphrase)
            except _Encrypted:
                raise SetupError(f"--api-key {key}: encrypted, and no passphrase can be given (write it "
                                 f"unencrypted: openssl pkey -in {key} -out NEW.key; chmod 600 NEW.key)") from None
            except (ssl.SSLError, OSError) as exc:
                if getattr(exc, "reason", None) == "KEY_VALUES_MISMATCH":
                    raise SetupError(f"--api-key {key}: not the key of --api-cert {cert} (key values "
                                     "mismatch)") from None
                raise SetupError(f"--api-cert {cert}: not a PEM certificate and key OpenSSL can load "
                                 f"({_ssl_reason(exc)}; --api-key {key})") from None
    return context


def _ssl_reason(exc: BaseException) -> str:
    """OpenSSL's reason in words: ``KEY_VALUES_MISMATCH`` -> ``key values mismatch``, ``[SSL] PEM lib
    (_ssl.c:3905)`` -> ``PEM lib``."""
    reason = getattr(exc, "reason", None)
    if isinstance(reason, str) and reason:
        return reason.replace("_", " ").lower() if reason.isupper() else reason
    text = str(getattr(exc, "strerror", None) or exc or type(exc).__name__)
    return re.sub(r"^\[\w+\] | \(_ssl\.c:\d+\)$", "", text)


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
    """The bytes of an answer from ``sock``, each read waiting only for the time left until ``deadline``
    (a ``time.monotonic()`` value): an answer dripped byte by byte, or a stream of ``100 Continue``, cannot
    stretch an attempt past its end."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        super().__init__()
        self.sock = sock
        self.deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout("the attempt's time is up")
        self.sock.settimeout(remaining)
        return self.sock.recv_into(buffer)


class _Response(http.client.HTTPResponse):
    """An answer read through ``_DeadlineIO``."""

    def __init__(self, sock: socket.socket, *args: object, deadline: float, **kwargs: object) -> None:
        super().__init__(sock, *args, **kwargs)  # type: ignore[arg-type]
        self.fp.close()  # the socket's own file: not used
        self.fp = io.BufferedReader(_DeadlineIO(sock, deadline))


class _Connection(http.client.HTTPSConnection):
    """An HTTPS connection that counts the connections it opens, and reads each answer by ``deadline``."""

    def __init__(self, pool: _Pool) -> None:
        super().__init__(pool.api.host, pool.api.port, timeout=ATTEMPT_TIMEOUT, context=pool.api.context)
        self.pool = pool
        self.deadline = 0.0  #: the current attempt's end (``time.monotonic()``)

    def connect(self) -> None:
        with self.pool.lock:
            self.pool.connections += 1
        super().connect()

    def getresponse(self) -> http.client.HTTPResponse:
        self.response_class = functools.partial(_Response, deadline=self.deadline)  # type: ignore[assignment]
        return super().getresponse()


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
        connection: _Connection | None = None
        try:
            while True:
                index = self.take()
                if index is None:
                    return
                try:
                    connection = connection or _Connection(self)
                    outcome = self.deliver(index, connection)
                except Exception as exc:  # nobody foresaw it: this result's outcome, not a traceback
                    if connection is not None:
                        connection.close()
                    outcome = Outcome(self.results[index], FAILED, f"unexpected {type(exc).__name__} while "
                                      f"submitting to {self.api.where}: {_words(exc) or 'no details'}")
                self.outcomes[index] = outcome
        finally:
            if connection is not None:
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
        where = api.where
        connection.timeout = timeout
        connection.deadline = time.monotonic() + timeout  # the answer is read by then (_DeadlineIO)
        if connection.sock is not None:
            connection.sock.settimeout(timeout)
        response: http.client.HTTPResponse | None = None
        try:
            connection.request("POST", api.path, body, api.headers)
            response = connection.getresponse()
            data = read_answer(response)
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
            what = "did not answer" if response is None else "did not finish its answer"
            raise _Retry(f"{where} {what} within {timeout:.1f} s") from None
        except ConnectionRefusedError:
            connection.close()
            raise _Retry(f"{where} refused the connection (is Icinga 2 running, with an ApiListener on "
                         f"port {api.port}?)") from None
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
            connection.close()
            raise _closed(f"{where} closed the connection ({type(exc).__name__})") from None
        except http.client.IncompleteRead as exc:
            connection.close()
            raise _closed(f"{where} closed the connection before the end of its answer ({len(exc.partial)} "
                          f"bytes read, {exc.expected} more expected)") from None
        except http.client.HTTPException as exc:  # a status line or header that is not HTTP: no retry helps
            connection.close()
            return Outcome(result, FAILED, f"not an Icinga 2 API answer ({where}: "
                                           f"{_words(exc, 80) or type(exc).__name__})", attempts)
        except OSError as exc:
            connection.close()
            raise _Retry(f"{where}: {exc.strerror or exc or type(exc).__name__}") from None
        status = response.status
        if data is None:
            connection.close()  # the rest of it is not read
            return Outcome(result, FAILED, f"not an Icinga 2 API answer (HTTP {status}: larger than {MAX_ANSWER} "
                                           "bytes)", attempts)
        if response.will_close:
            connection.close()
        code, words = answer(status, data)
        name = object_name(result)
        if code == 401 or status == 401:
            raise _Fatal(f"401 Unauthorized: Icinga 2 refused {api.who}")
        if code == 503 or status == 503:
            raise _Retry(f"503 Service Unavailable ({words})")
        if code is None or (200 <= code < 300 and not 200 <= status < 300):
            what = words if code is None else f"code {code} in the results"
            location = response.getheader("Location") if 300 <= status < 400 else None
            moved = f" to {_words(location, 100)}" if location else ""
            return Outcome(result, FAILED, f"not an Icinga 2 API answer (HTTP {status}{moved}: {what})", attempts)
        if 200 <= code < 300:
            lowered = words.lower()
            if "ignoring" in lowered or "unreachable" in lowered:
                return Outcome(result, IGNORED, f"Icinga ignored the result for {name}: {words}", attempts)
            return Outcome(result, ACCEPTED, words, attempts)
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
