"""The lab certificate authority and server certificate (uses ``cryptography``).

``init_lab_files`` writes four PEM files into one directory:

=================  =====================================================
``ca.pem``         the lab CA's certificate: hand THIS to students
``ca-key.pem``     the CA's private key (0600): signs certificates; keep it
``server.pem``     the server certificate, signed by the CA
``server-key.pem`` the server's private key (0600): stays on the server
=================  =====================================================

Keys are ECDSA P-256: small, fast to make, accepted by every TLS 1.2+ stack.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
import secrets
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from lab.tls.contexts import LabPaths, lab_paths

# Certificates start a little in the past so that a student laptop whose
# clock is a few minutes behind the instructor's still accepts them.
CLOCK_SKEW = dt.timedelta(minutes=10)
DEFAULT_DAYS = 365
MAX_DAYS = 3650  # ten years: a lab CA older than that is a forgotten one
_DNS_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class CertError(Exception):
    """A problem the user can fix; str() is one line."""


@dataclass
class Names:
    """What the server certificate is made out to (its subjectAltNames)."""

    dns: list[str] = field(default_factory=list)
    ips: list[IPAddress] = field(default_factory=list)

    def add_dns(self, name: str) -> None:
        """Add a DNS name (lower case, without a final dot), once."""
        name = name.strip().rstrip(".").lower()
        if name and name not in self.dns:
            self.dns.append(name)

    def add_ip(self, ip: IPAddress) -> None:
        """Add an IP address, once."""
        if ip not in self.ips:
            self.ips.append(ip)


def check_dns_name(name: str) -> str | None:
    """The reason ``name`` cannot be a DNS name in a certificate, or None."""
    name = name.rstrip(".")
    if not name or len(name) > 253:
        return "a host name is 1-253 characters"
    labels = name.split(".")
    for i, label in enumerate(labels):
        if label == "*" and i == 0 and len(labels) > 2:
            continue  # a wildcard such as *.lab.example
        if not _DNS_LABEL.match(label):
            return f"{label!r} is not a valid part of a host name (letters, digits and '-', separated by '.')"
    return None


def local_ipv4_addresses() -> list[ipaddress.IPv4Address]:
    """This machine's non-loopback IPv4 addresses (so students on the LAN can
    connect by address).  No packet is sent to find them."""
    found: list[ipaddress.IPv4Address] = []

    def add(text: str) -> None:
        try:
            ip = ipaddress.IPv4Address(text)
        except ValueError:
            return
        if not (ip.is_loopback or ip.is_unspecified or ip.is_link_local) and ip not in found:
            found.append(ip)

    if sys.platform.startswith("linux"):
        import fcntl
        import struct

        siocgifaddr = 0x8915
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for _index, name in socket.if_nameindex():
                try:
                    req = struct.pack("256s", name.encode()[:15])
                    res = fcntl.ioctl(s.fileno(), siocgifaddr, req)
                except OSError:
                    continue  # interface without an IPv4 address
                add(socket.inet_ntoa(res[20:24]))
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
            add(info[4][0])
    except OSError:
        pass  # the host name does not resolve: fine
    return found


def default_names(hosts: list[str] = (), ips: list[str] = ()) -> Names:
    """localhost, 127.0.0.1, ::1, this machine's name and IPv4 addresses,
    plus ``hosts`` and ``ips`` from the command line (a --host that is an
    address counts as an address).  Raises CertError on an invalid one."""
    names = Names()
    names.add_dns("localhost")
    names.add_ip(ipaddress.ip_address("127.0.0.1"))
    names.add_ip(ipaddress.ip_address("::1"))
    hostname = socket.gethostname()
    if hostname and check_dns_name(hostname) is None:
        names.add_dns(hostname)
    for ip in local_ipv4_addresses():
        names.add_ip(ip)
    for text in list(hosts) + list(ips):
        try:
            names.add_ip(ipaddress.ip_address(text.strip().strip("[]")))
            continue
        except ValueError:
            if text in ips:
                raise CertError(f"--ip {text!r} is not an IPv4 or IPv6 address") from None
        problem = check_dns_name(text)
        if problem:
            raise CertError(f"--host {text!r}: {problem}")
        names.add_dns(text)
    return names


def make_ca(common_name: str, days: int, now: dt.datetime) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A CA key and its self-signed certificate (CA:TRUE, may sign certificates)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "chat-lab"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64]),
        ]
    )
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(_serial())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + dt.timedelta(days=days))
        # path_length=0: this CA signs server certificates, not other CAs.
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def make_server_cert(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    names: Names,
    days: int,
    now: dt.datetime,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A server key and a certificate for ``names``, signed by the CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    common = names.dns[0] if names.dns else str(names.ips[0])
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in names.dns]
    sans += [x509.IPAddress(ip) for ip in names.ips]
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    cert = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "chat-lab"),
                    x509.NameAttribute(NameOID.COMMON_NAME, common[:64]),
                ]
            )
        )
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(_serial())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def init_lab_files(
    directory: str | os.PathLike | None = None,
    hosts: list[str] = (),
    ips: list[str] = (),
    days: int = DEFAULT_DAYS,
    force: bool = False,
    now: dt.datetime | None = None,
) -> tuple[LabPaths, Names]:
    """Make the lab CA and a server certificate in ``directory`` (default:
    ``default_dir()``).  Refuses (CertError) to replace existing files
    unless ``force``.  ``now`` lets tests make certificates in the past."""
    if not 1 <= days <= MAX_DAYS:
        raise CertError(f"--days must be between 1 and {MAX_DAYS}")
    paths = lab_paths(directory)
    existing = [p for p in _files(paths) if p.exists()]
    if existing and not force:
        raise CertError(
            f"{existing[0]} already exists; pass --force to replace all four files "
            "(students will then need the new ca.pem)"
        )
    names = default_names(list(hosts), list(ips))
    now = now or dt.datetime.now(dt.timezone.utc)
    try:
        paths.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise CertError(f"cannot create {paths.dir}: {exc.strerror}") from None
    ca_key, ca_cert = make_ca(f"chat-lab CA on {socket.gethostname() or 'this machine'}", days, now)
    key, cert = make_server_cert(ca_key, ca_cert, names, days, now)
    # Keys first, so that a half-finished run never leaves a certificate
    # whose key is missing.
    _write(paths.ca_key, _key_pem(ca_key), 0o600)
    _write(paths.server_key, _key_pem(key), 0o600)
    _write(paths.ca_cert, ca_cert.public_bytes(serialization.Encoding.PEM), 0o644)
    _write(paths.server_cert, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return paths, names


@dataclass
class CertInfo:
    """What `chatlab tls show` prints about one certificate."""

    path: Path
    subject: str
    issuer: str
    is_ca: bool
    dns: list[str]
    ips: list[str]
    not_before: dt.datetime
    not_after: dt.datetime
    sha256: str  # colon-separated hex, as browsers and openssl show it

    def status(self, now: dt.datetime | None = None) -> str:
        """'valid for N more days', 'EXPIRED ...' or 'NOT YET VALID ...'."""
        now = now or dt.datetime.now(dt.timezone.utc)
        if now < self.not_before:
            return f"NOT YET VALID (starts {self.not_before:%Y-%m-%d %H:%M} UTC: check the clock)"
        if now > self.not_after:
            return f"EXPIRED on {self.not_after:%Y-%m-%d} (remake with `chatlab tls init --force`)"
        return f"valid for {(self.not_after - now).days} more days"


def load_cert(path: str | os.PathLike) -> x509.Certificate:
    """Read one PEM certificate; CertError with one line if that fails."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CertError(f"{path} does not exist: run `chatlab tls init` first (or pass --dir)") from None
    except OSError as exc:
        raise CertError(f"cannot read {path}: {exc.strerror}") from None
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError:
        raise CertError(f"{path} is not a PEM certificate") from None


def describe(path: str | os.PathLike) -> CertInfo:
    """The facts a person checks about a certificate."""
    cert = load_cert(path)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = san.get_values_for_type(x509.DNSName)
        ips = [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        dns, ips = [], []
    try:
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    digest = cert.fingerprint(hashes.SHA256()).hex().upper()
    return CertInfo(
        path=Path(path),
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        is_ca=is_ca,
        dns=dns,
        ips=ips,
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        sha256=":".join(digest[i : i + 2] for i in range(0, len(digest), 2)),
    )


def signed_by(cert_path: str | os.PathLike, ca_path: str | os.PathLike) -> bool:
    """True if the certificate's signature checks out with the CA's key."""
    cert, ca = load_cert(cert_path), load_cert(ca_path)
    try:
        cert.verify_directly_issued_by(ca)
    except (InvalidSignature, ValueError, TypeError):  # bad signature, wrong issuer name, key type
        return False
    return True


def _files(paths: LabPaths) -> list[Path]:
    return [paths.ca_cert, paths.ca_key, paths.server_cert, paths.server_key]


def _serial() -> int:
    # RFC 5280: positive, at most 20 octets; random so reissued certificates differ.
    return secrets.randbits(128) | 1


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _write(path: Path, data: bytes, mode: int) -> None:
    """Write ``data`` to ``path`` with ``mode``, atomically: a temporary
    file created with that mode (a key is never readable by others, even for
    a moment), then renamed over the old file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        try:
            os.fchmod(fd, mode)  # the umask may have removed bits we want
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise CertError(f"cannot write {path}: {exc.strerror}") from None
