"""--submit icinga2 and the answers real servers send that Icinga 2.13 does not: an answer that closes its
connection (HTTP/1.0, ``Connection: close``) with its body in a TLS record of its own, as Python's
http.server, nginx and Apache send it, is read whole; a result is sent again only where nothing was
accepted (a request that never went out whole, or Icinga's 503), never after its answer was lost; a
connection the server closed while idle is not used again; and the credentials a server echoes back, in
whatever encoding, are never printed."""

from __future__ import annotations

import base64
import html
import json
import re
import socket
import ssl
import struct
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote, quote_plus, unquote_plus

import pytest
from api_servers import ACCEPTED, Answers, RawApi, Reply, closing_server, http_server, raw_server, result
from icinga_api import Pki
from support import CheckRun

from check_digitalsentry.passive import PassiveResult


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def raw_api(pki: Pki) -> Iterator[RawApi]:
    with raw_server(pki.node, pki.node_key) as api:
        yield api


def password_file(directory: Path, password: str) -> Path:
    path = directory / "api.password"
    path.write_text(password + "\n", encoding="utf-8")
    path.chmod(0o600)
    return path


def results(count: int) -> list[PassiveResult]:
    return [result(f"DIGITALSENTRY OK - site {n}", service=f"svc{n}") for n in range(count)]


# --- 11. answers that close their connection -----------------------------------------------------------


class Http10(Answers):
    protocol_version = "HTTP/1.0"


class Http10Unsized(Answers):
    protocol_version = "HTTP/1.0"
    length = False


class Http11Close(Answers):
    close = True


CLOSING = {"HTTP/1.0": Http10, "HTTP/1.0 without Content-Length": Http10Unsized,
           "HTTP/1.1 with Connection: close": Http11Close}


@pytest.mark.parametrize("how", CLOSING)
def test_an_answer_that_closes_its_connection_is_read_whole_and_each_result_is_posted_once(
    pki: Pki, tmp_path: Path, how: str
) -> None:
    from check_digitalsentry.submit import icinga2

    handler = CLOSING[how]
    handler.script = []
    with http_server(pki.node, pki.node_key, handler) as url:
        api = icinga2.Api(url, user="u", password_file=str(password_file(tmp_path, "secret")), ca=str(pki.ca))
        submission = icinga2.submit(api, results(6), time.monotonic() + 5)
    assert [o.kind for o in submission.receipts] == ["accepted"] * 6, submission.receipts
    assert sorted(str(body["service"]) for _, body in handler.seen) == [f"ds01!svc{n}" for n in range(6)]  # once each
    assert (submission.requests, submission.retries, submission.connections) == (6, 0, 6)


@pytest.mark.parametrize("how", CLOSING)
def test_a_401_sent_that_way_goes_out_once_is_said_once_and_never_retried(
    pki: Pki, tmp_path: Path, how: str
) -> None:
    from check_digitalsentry.cli.submit import report
    from check_digitalsentry.submit import icinga2

    handler = CLOSING[how]
    handler.script = [(401, {"error": 401, "status": "Unauthorized. Please check your user credentials."})] * 6
    with http_server(pki.node, pki.node_key, handler) as url:
        api = icinga2.Api(url, user="u", password_file=str(password_file(tmp_path, "wrong")), ca=str(pki.ca))
        started = time.monotonic()
        submission = icinga2.submit(api, results(6), started + 5)
        took = time.monotonic() - started
    assert len(handler.seen) == 1, handler.seen  # the wrong credentials went out once, on one connection
    assert submission.fatal == "401 Unauthorized: Icinga 2 refused --api-user u and its --api-password-file"
    assert (submission.requests, submission.retries) == (1, 0)
    assert took < 1, "no retry: nothing waited for"
    code, lines = report(submission, results(6), f"Icinga 2 at {url}", "accepted by", verbose=1)
    assert code == 2
    assert lines == [f"DIGITALSENTRY SUBMIT CRITICAL - 0 of 6 results accepted by Icinga 2 at {url} in "
                     f"{submission.seconds:.2f} s: {submission.fatal}; results: 6 CRITICAL"], lines


def test_a_503_sent_that_way_is_retried_and_the_result_then_accepted(pki: Pki, tmp_path: Path) -> None:
    """503: Icinga says it did not process the result -- the one answer after which it is sent again."""
    from check_digitalsentry.submit import icinga2

    Http10.script = [(503, {"error": 503, "status": "Icinga is shutting down."})] * 2
    with http_server(pki.node, pki.node_key, Http10) as url:
        api = icinga2.Api(url, user="u", password_file=str(password_file(tmp_path, "secret")), ca=str(pki.ca))
        submission = icinga2.submit(api, results(1), time.monotonic() + 5)
    (receipt,) = submission.receipts
    assert (receipt.kind, receipt.attempts, len(Http10.seen), submission.retries) == ("accepted", 3, 3, 2)


def hang_up(conn: ssl.SSLSocket) -> None:
    """The request read, the connection closed: no answer."""
    raise OSError("hung up")


def reset(conn: ssl.SSLSocket) -> None:
    """The request read, the connection reset (TCP RST): no answer."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    raise OSError("reset")


def cut_short(conn: ssl.SSLSocket) -> None:
    """Half an answer, then the connection closed."""
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 87\r\n\r\n" + ACCEPTED[:20])
    raise OSError("cut short")


def silent(conn: ssl.SSLSocket) -> None:
    """The request read; no answer ever comes."""
    time.sleep(30)


@pytest.mark.parametrize(("reply", "reason"), [
    (hang_up, r"closed the connection before its answer \(RemoteDisconnected\)"),
    (reset, r"closed the connection before its answer \((ConnectionResetError|RemoteDisconnected)\)"),
    (cut_short, r"closed the connection before the end of its answer \(20 bytes read, 67 more expected\)"),
    (silent, r"did not answer within \d\.\d s"),
], ids=["hung up", "reset", "cut short", "silent"])
def test_a_result_whose_answer_was_lost_is_never_sent_again(
    raw_api: RawApi, pki: Pki, tmp_path: Path, reply: Reply, reason: str
) -> None:
    """Once a request went out whole, Icinga may have processed it, whatever became of its answer: sent
    again, it would count as a second check result (a soft state's next attempt). It fails, saying so."""
    from check_digitalsentry.submit import icinga2

    url = raw_api(reply)
    api = icinga2.Api(url, user="u", password_file=str(password_file(tmp_path, "secret")), ca=str(pki.ca))
    submission = icinga2.submit(api, results(3), time.monotonic() + (1.5 if reply is silent else 5), connections=1)
    assert len(raw_api.requests) == (1 if reply is silent else 3), raw_api.requests  # each result once at most
    assert submission.retries == 0
    for receipt in submission.receipts[:len(raw_api.requests)]:
        assert receipt.kind == "failed" and receipt.sent, receipt
        assert re.fullmatch(rf"127\.0\.0\.1:\d+ {reason}; the result was sent, so it is not sent again \(Icinga "
                            r"may have processed it\)", receipt.message), receipt.message


def test_a_connection_the_server_closed_after_its_answer_is_not_used_again(pki: Pki, tmp_path: Path) -> None:
    """A server that closes a kept-alive connection unasked (its keep-alive time ran out) has it closed
    before anything more is sent on it: the next result goes on a new connection, and nothing is lost."""
    from check_digitalsentry.submit import icinga2

    with closing_server(pki.node, pki.node_key) as (url, server):
        api = icinga2.Api(url, user="u", password_file=str(password_file(tmp_path, "secret")), ca=str(pki.ca))
        submission = icinga2.submit(api, results(4), time.monotonic() + 5, connections=1)
    assert [o.kind for o in submission.receipts] == ["accepted"] * 4, submission.receipts
    assert (len(server.requests), server.connections) == (4, 4)
    assert (submission.requests, submission.retries, submission.connections) == (4, 0, 4)


# --- 13. the credentials a server echoes back ------------------------------------------------------------

USER = "submitter"
PASSWORD = "Tr0ub4dor&3 <w\u00f6rd> 100%+/"  #: every character an encoding changes: & < > space % + / non-ASCII
TOKEN = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()


def spellings(secret: str) -> dict[str, str]:
    data = secret.encode()
    return {"as is": secret, "base64": base64.b64encode(data).decode(), "base64url":
            base64.urlsafe_b64encode(data).decode().rstrip("="), "percent": quote(secret, safe=""),
            "form": quote_plus(secret), "HTML": html.escape(secret), "JSON": json.dumps(secret)[1:-1],
            "hex": data.hex()}


#: What must never be printed: the password and USER:PASSWORD in every spelling, and the header's value.
NEVER = {**{f"password {k}": v for k, v in spellings(PASSWORD).items()},
         **{f"user:password {k}": v for k, v in spellings(f"{USER}:{PASSWORD}").items()},
         "Authorization": f"Basic {TOKEN}"}


def echoed(api: RawApi, status: bytes, make: Callable[[str], bytes], headers: Callable[[str], bytes] | None = None,
           ) -> Reply:
    """An answer that echoes the request's Authorization header value (``make(value)``: the body)."""
    def reply(conn: ssl.SSLSocket) -> None:
        value = re.search(rb"(?im)^authorization: *(.+?)\r?$", api.requests[-1]).group(1).decode()  # type: ignore[union-attr]
        body = make(value)
        more = headers(value) if headers else b""
        conn.sendall(b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\nContent-Length: "
                     + str(len(body)).encode() + b"\r\n" + more + b"\r\n" + body)
    return reply


def password_of(header: str) -> str:
    return base64.b64decode(header.split()[1]).decode().split(":", 1)[1]


def doc(code: int, status: str) -> bytes:
    return json.dumps({"error": code, "status": status}).encode()


def result_doc(code: int, status: str) -> bytes:
    return json.dumps({"results": [{"code": code, "status": status}]}, ensure_ascii=False).encode()


ECHOES: dict[str, Callable[[RawApi], Reply]] = {
    "a 403 saying user:password (the status line)": lambda api: echoed(api, b"403 Forbidden", lambda h: doc(
        403, f"No permission for {base64.b64decode(h.split()[1]).decode()}")),
    "a 503 saying the header (the status line, retried)": lambda api: echoed(api, b"503 Service Unavailable",
                                                                               lambda h: doc(503, f"busy: {h}")),
    "a 500 saying the password in base64": lambda api: echoed(api, b"500 Internal Server Error", lambda h: doc(
        500, "bad: " + base64.b64encode(password_of(h).encode()).decode())),
    "a login page saying it HTML-escaped, far in": lambda api: echoed(api, b"200 OK", lambda h: (
        "<html>" + "x" * 45 + html.escape(password_of(h)) + "</html>").encode()),
    "a login page saying it in HTML character references": lambda api: echoed(api, b"200 OK", lambda h: (
        "<p>" + "".join(f"&#{ord(c)};" for c in password_of(h)) + "</p>").encode()),
    "JSON escapes in a broken document": lambda api: echoed(api, b"200 OK", lambda h: (
        '{"status": "' + "".join(f"\\u{ord(c):04x}" for c in password_of(h)) + '"').encode()),
    "a redirect with it percent-encoded": lambda api: echoed(api, b"302 Found", lambda h: b"", lambda h: (
        "Location: https://127.0.0.1:1/login?p=" + re.sub("%..", lambda m: m.group().lower(), quote(password_of(h), safe=""))
        + "\r\n").encode()),
    "an accepted result whose words carry the header (-v)": lambda api: echoed(api, b"200 OK", lambda h: result_doc(
        200, f"Successfully processed check result for {h}.")),
    "a status line that is no HTTP": lambda api: lambda conn: conn.sendall(
        b"HTTP/1.1 " + quote(password_of(re.search(rb"(?im)^authorization: *(.+?)\r?$", api.requests[-1])
                                         .group(1).decode()), safe="").encode() + b"\r\n\r\n"),  # type: ignore[union-attr]
    "the token inside a longer base64 text": lambda api: echoed(api, b"500 Internal Server Error", lambda h: doc(
        500, "dump " + base64.b64encode(b"xy" + h.encode() + b"z").decode())),
}


@pytest.mark.parametrize("what", ECHOES)
def test_credentials_a_server_echoes_are_never_printed(
    raw_api: RawApi, pki: Pki, tmp_path: Path, check: Callable[..., CheckRun], what: str
) -> None:
    """The status line, the long output, -v lines: whatever comes back, in whatever spelling, the
    password, USER:PASSWORD and the Authorization header's value are not in them, nor any piece of them."""
    url = raw_api(ECHOES[what](raw_api))
    inventory = tmp_path / "sites.toml"
    inventory.write_text('[[sites]]\nname = "a"\nhosts = ["127.0.0.1"]\naudio_clients = 0\nicinga_per_role = true\n')
    run = check("--inventory", str(inventory), "--submit", "icinga2", "--api-url", url, "--api-ca", str(pki.ca),
                "--api-user", USER, "--api-password-file", str(password_file(tmp_path, PASSWORD)), "-t", "3", "-v")
    printed = run.stdout + run.stderr
    assert raw_api.requests and f"Basic {TOKEN}" in raw_api.requests[0].decode(), "the credentials went out"
    assert run.lines and run.lines[0].startswith("DIGITALSENTRY SUBMIT "), run
    for name, form in NEVER.items():
        assert form not in printed, (name, printed)
    views = [printed, html.unescape(printed), unquote_plus(printed),
             re.sub(r"\\+u([0-9a-f]{4})", lambda m: chr(int(m.group(1), 16)), printed)]
    for secret in (PASSWORD, TOKEN):
        pieces = [secret[i:i + 6] for i in range(len(secret) - 5)]
        assert not [piece for view in views for piece in pieces if piece in view], (secret, printed)
    assert "[redac" in printed or "[withheld: it held the credentials]" in printed, printed  # cut, perhaps


def test_the_redactor_takes_every_spelling_out_and_keeps_the_rest() -> None:
    from check_digitalsentry.submit.redact import MARK, WITHHELD, Redactor

    redact = Redactor([PASSWORD, f"{USER}:{PASSWORD}"])
    for name, form in NEVER.items():
        text = f"before {form} after"
        assert redact(text) in (f"before {MARK} after", f"before Basic {MARK} after", WITHHELD), (name, redact(text))
    assert redact("Successfully processed check result.") == "Successfully processed check result."
    assert Redactor()("as it came") == "as it came"
    assert redact("".join(f"&#x{ord(c):x};" for c in PASSWORD)) == WITHHELD
