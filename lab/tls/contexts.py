"""SSL contexts for the chat, and one-line explanations of TLS failures.

Both contexts require TLS 1.2 or newer.  The client verifies the server's
certificate *and* the host name by default: a student has to ask for
``--insecure`` to switch that off, and is told why it matters.
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass
from pathlib import Path

# File names inside the lab TLS directory (made by `chatlab tls init`).
CA_CERT = "ca.pem"
CA_KEY = "ca-key.pem"
SERVER_CERT = "server.pem"
SERVER_KEY = "server-key.pem"


class TlsConfigError(Exception):
    """A certificate or key file cannot be used; str() is one line for the user."""


@dataclass(frozen=True)
class LabPaths:
    """Where `chatlab tls init` puts its four files."""

    dir: Path
    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path


def default_dir() -> Path:
    """The per-user lab TLS directory.

    ``$CHATLAB_TLS_DIR`` if set, else ``$XDG_CONFIG_HOME/chatlab/tls``, else
    ``~/.config/chatlab/tls``.
    """
    explicit = os.environ.get("CHATLAB_TLS_DIR")
    if explicit:
        return Path(explicit).expanduser()
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config).expanduser() / "chatlab" / "tls"


def lab_paths(directory: str | os.PathLike | None = None) -> LabPaths:
    """The four file paths in ``directory`` (default: ``default_dir()``)."""
    d = Path(directory).expanduser() if directory is not None else default_dir()
    return LabPaths(d, d / CA_CERT, d / CA_KEY, d / SERVER_CERT, d / SERVER_KEY)


def find_lab_file(name: str | os.PathLike) -> Path:
    """The file a command line names with ``--cafile``, ``--cert`` or ``--key``.

    The path as given when it exists.  Otherwise, when it is a bare file
    name (no folder: ``ca.pem``), the file of that name in the lab TLS
    directory, where `chatlab tls init` wrote it, if it is there: so the
    documented ``--cafile ca.pem`` works from any folder on the machine that
    ran ``tls init``, and on a student's machine in the folder where they
    saved the instructor's ``ca.pem``.  Else the path as given (the caller
    says that it is missing)."""
    path = Path(name).expanduser()
    if path.exists() or path.parent != Path("."):
        return path
    in_lab_dir = default_dir() / path.name
    return in_lab_dir if in_lab_dir.exists() else path


def _missing(what: str, path: Path, hint: str) -> TlsConfigError:
    """One line for a file that is not there; a bare name says both places it was looked for."""
    if path.parent == Path("."):
        where = f"{path} is neither in this folder ({Path.cwd()}) nor in the lab TLS folder ({default_dir()})"
    else:
        where = f"the {what} {path} does not exist"
    return TlsConfigError(f"{where}: {hint}")


def server_context(cert: str | os.PathLike | None = None, key: str | os.PathLike | None = None) -> ssl.SSLContext:
    """A server-side context with ``cert`` and ``key`` (default: the lab files;
    a bare file name is looked up as ``find_lab_file`` says).

    Raises TlsConfigError with one clear line if the files are missing,
    unreadable or do not match.
    """
    paths = lab_paths()
    cert = find_lab_file(cert) if cert is not None else paths.server_cert
    key = find_lab_file(key) if key is not None else (paths.server_key if cert == paths.server_cert else None)
    if key is None:
        raise TlsConfigError(f"--cert {cert} needs --key (the private key that goes with it)")
    for what, path in (("server certificate", cert), ("server private key", key)):
        if not path.exists():
            raise _missing(what, path, "run `chatlab tls init` first (or pass --cert and --key)")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(str(cert), str(key))
    except PermissionError:
        raise TlsConfigError(f"cannot read {cert} or {key}: permission denied (are they yours?)") from None
    except (ssl.SSLError, OSError) as exc:
        raise TlsConfigError(
            f"cannot use {cert} with {key} ({_reason(exc)}): are they a certificate and its own key? "
            "`chatlab tls init --force` makes a fresh pair"
        ) from None
    return ctx


def client_context(cafile: str | os.PathLike | None = None, verify: bool = True) -> ssl.SSLContext:
    """A client-side context.

    With ``verify`` (the default) the server's certificate must chain to a
    trusted CA and name the host we connect to.  Trusted CAs: ``cafile`` if
    given (a bare file name is looked up as ``find_lab_file`` says);
    otherwise the system's CAs plus the lab CA in ``default_dir()`` when it
    exists (so ``chatlab client --tls localhost`` works on the machine that
    ran ``chatlab tls init``).  ``verify=False`` is ``--insecure``:
    encryption without knowing who is at the other end.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # check_hostname + CERT_REQUIRED
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    if cafile is not None:
        path = find_lab_file(cafile)
        if not path.exists():
            raise _missing("CA certificate", path,
                           "give the path of the ca.pem `chatlab tls init` made (your instructor hands it out)")
        try:
            ctx.load_verify_locations(cafile=str(path))
        except (ssl.SSLError, OSError) as exc:
            raise TlsConfigError(f"{path} is not a CA certificate in PEM format ({_reason(exc)})") from None
        return ctx
    ctx.load_default_certs(ssl.Purpose.SERVER_AUTH)
    lab_ca = lab_paths().ca_cert
    if lab_ca.exists():
        try:
            ctx.load_verify_locations(cafile=str(lab_ca))
        except (ssl.SSLError, OSError):
            pass  # a broken file here only means "not trusted"; verification says so
    return ctx


# X.509 verification codes from OpenSSL's x509_vfy.h, grouped by what the
# student should do about them.
_UNKNOWN_CA = {2, 18, 19, 20, 21}  # issuer unknown, self-signed, ...
_NAME_MISMATCH = {62, 63, 64}  # hostname, email, IP address mismatch
_EXPIRED = {10}
_NOT_YET_VALID = {9}


def explain_verify_error(exc: BaseException, host: str | None = None) -> str:
    """One sentence for a student: what failed when checking the server's
    certificate, and what to do.  ``exc`` is usually an
    ``ssl.SSLCertVerificationError``; other SSL errors get a generic line."""
    code = getattr(exc, "verify_code", None)
    message = getattr(exc, "verify_message", None) or _reason(exc)
    if code in _UNKNOWN_CA:
        return (
            "the server's certificate is not signed by a CA you trust: pass --cafile ca.pem "
            "(from `chatlab tls init`) or --insecure to skip verification (never outside the lab)"
        )
    if code in _NAME_MISMATCH:
        named = f" ({host})" if host else ""
        return (
            f"the server's certificate is not made out to the name you connected to{named}: "
            "connect with a name or address it lists (`chatlab tls show` on the server), or remake it "
            f"with `chatlab tls init --force --host {host or 'NAME'}`"
        )
    if code in _EXPIRED:
        return (
            "the server's certificate has expired (or this computer's clock is wrong): check the date, "
            "or remake the certificate with `chatlab tls init --force`"
        )
    if code in _NOT_YET_VALID:
        return (
            "the server's certificate is not valid yet (is this computer's clock behind?): check the date "
            "on both machines"
        )
    return (
        f"the server's certificate could not be verified ({message}): pass --cafile ca.pem "
        "or --insecure (never outside the lab)"
    )


def _reason(exc: BaseException) -> str:
    """The shortest readable reason inside an ssl/OS error."""
    reason = getattr(exc, "reason", None)
    if reason:
        return str(reason).replace("_", " ").lower()
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
