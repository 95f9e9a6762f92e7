"""Icinga 2 submit setup (submit layer, I/O): where and how ``--submit icinga2`` posts -- the URL, the
credentials and the TLS context (``Api``) -- checked before anything is probed, each mistake a
``passive.SetupError`` naming its option. ``submit.icinga2`` posts with it.

- TLS is verified: against ``--api-ca`` (the CA of the Icinga node's certificate, e.g.
  ``/var/lib/icinga2/certs/ca.crt``), else the system's store; the URL's host must be in the certificate.
  A client certificate (``--api-cert``/``--api-key``) authenticates an ApiUser with ``client_cn``; HTTP
  basic auth the user of ``--api-user`` with the first line of ``--api-password-file``.
- The files (``--api-password-file``, ``--api-ca``, ``--api-cert``, ``--api-key``) must be regular files
  of at most ``MAX_FILE`` bytes, opened without blocking (a FIFO or a device would hang the run before
  its deadline is even armed); none may be writable by every user, and the password and the key not
  readable by every user either.
"""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import os
import re
import ssl
import stat

from check_digitalsentry import __version__, files
from check_digitalsentry.passive import SetupError
from check_digitalsentry.submit.redact import Redactor

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__ = ["Api", "SetupError", "parse_url", "read_password", "ssl_reason", "tls_context"]

ACTION = "/v1/actions/process-check-result"
DEFAULT_PORT = 5665
#: Bytes of a password, CA, certificate or key file at most (a system's CA bundle is a few hundred KiB).
MAX_FILE = 1 << 20


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
        #: takes the credentials out of any text from the server before it is printed (``submit.redact``)
        self.redact = Redactor()
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
            self.redact = Redactor([password, f"{user}:{password}", token])
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

    def bad(why: str) -> SetupError:  # said back without what may be credentials: USER:PASSWORD@, a query
        shown = re.sub(r"\?[^#]*", "?[redacted]", re.sub(r"(?<=//)[^/?#]*@", "[redacted]@", url))
        return SetupError(f"--api-url {shown!r}: {why}")

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
        if secret:  # the value may be the password itself, typed where its file goes: never said back
            raise SetupError(f"{option}: {exc.strerror or exc} (the value given is not repeated here, in case it "
                             "is the password: give the path of a file that holds it)") from None
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
                raise SetupError(f"--api-ca {ca}: not a PEM certificate ({ssl_reason(exc)})") from None
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
                                 f"({ssl_reason(exc)}; --api-key {key})") from None
    return context


def ssl_reason(exc: BaseException) -> str:
    """OpenSSL's reason in words: ``KEY_VALUES_MISMATCH`` -> ``key values mismatch``, ``[SSL] PEM lib
    (_ssl.c:3905)`` -> ``PEM lib``."""
    reason = getattr(exc, "reason", None)
    if isinstance(reason, str) and reason:
        return reason.replace("_", " ").lower() if reason.isupper() else reason
    text = str(getattr(exc, "strerror", None) or exc or type(exc).__name__)
    return re.sub(r"^\[\w+\] | \(_ssl\.c:\d+\)$", "", text)
