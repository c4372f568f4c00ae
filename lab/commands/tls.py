"""`chatlab tls`: make and inspect the lab certificate authority.

    chatlab tls init [--dir DIR] [--host NAME ...] [--ip ADDR ...] [--days N] [--force]
    chatlab tls show [--dir DIR] [FILE ...]
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

HELP = "make a lab certificate authority and server certificate"
DESCRIPTION = (
    "Make a lab certificate authority (CA) and a server certificate signed by it, "
    "for `chatlab server --tls` and `chatlab client --tls`; or show what a certificate says."
)

WHY = """\
Why a CA?  A certificate says "this key belongs to NAME", and a certificate
authority (CA) is who signs that claim.  The client trusts the CA in ca.pem,
so it accepts the server only if the server's certificate is signed by that CA
and made out to the name the client connected to.  That check is what stops an
impostor in the middle: encryption alone (--insecure) hides the chat from
eavesdroppers, but you could be talking, encrypted, to the wrong machine."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The actions of `chatlab tls`: init (make the lab CA and a server certificate) and show."""
    from lab.commands import options
    from lab.tls.certs import MAX_DAYS

    sub = parser.add_subparsers(dest="action", metavar="{init,show}")
    init = sub.add_parser("init", help="make the lab CA and a server certificate", description=DESCRIPTION)
    init.add_argument("--dir", default=None,
        help="where to put the files (default: $CHATLAB_TLS_DIR, else $XDG_CONFIG_HOME/chatlab/tls, else ~/.config/chatlab/tls)")
    init.add_argument(
        "--host", action="append", default=[], metavar="NAME",
        help="another name students use to reach the server (repeatable)",
    )
    init.add_argument(
        "--ip", action="append", default=[], metavar="ADDR",
        help="another address students use to reach the server (repeatable)",
    )
    init.add_argument("--days", type=options.whole("a validity period", 1, MAX_DAYS, unit="days"), default=365,
                      metavar="N", help=f"how long the certificates are valid, 1-{MAX_DAYS} days (default: 365)")
    init.add_argument("--force", action="store_true", help="replace existing files (students need the new ca.pem)")
    show = sub.add_parser("show", help="print subject, names, validity and fingerprint of certificates")
    show.add_argument("--dir", default=None, help="the directory `tls init` wrote (default: the per-user one)")
    show.add_argument("files", nargs="*", metavar="FILE", help="PEM certificates (default: server.pem and ca.pem)")


def run(args: argparse.Namespace) -> int:
    """Do `tls init` or `tls show`; 0 when done, 1 with one line for a certificate problem, 2 without an action."""
    from lab.tls.certs import CertError

    try:
        if args.action == "init":
            return _init(args)
        if args.action == "show":
            return _show(args)
    except CertError as exc:
        print(f"chatlab tls: {exc}", file=sys.stderr)
        return 1
    print("usage: chatlab tls {init,show} ...  (try `chatlab tls init --help`)", file=sys.stderr)
    return 2


def _init(args: argparse.Namespace) -> int:
    from lab.tls.certs import describe, init_lab_files
    from lab.tls.contexts import default_dir

    paths, names = init_lab_files(args.dir, hosts=args.host, ips=args.ip, days=args.days, force=args.force)
    info = describe(paths.server_cert)
    custom_dir = paths.dir.resolve() != default_dir().resolve()
    print(f"Made a lab certificate authority (CA) and a server certificate in\n{paths.dir.resolve()}:\n")
    print(f"  {paths.ca_cert.name:<15} the CA certificate: give THIS file to students (it is public)")
    print(f"  {paths.ca_key.name:<15} the CA's private key: secret, never hand it out (mode 0600)")
    print(f"  {paths.server_cert.name:<15} the server certificate, signed by the CA")
    print(f"  {paths.server_key.name:<15} the server's private key: stays on this machine (mode 0600)")
    print()
    listed = ", ".join(names.dns + [str(ip) for ip in names.ips])
    print(textwrap.fill(f"The server certificate is valid until {info.not_after:%Y-%m-%d} for: {listed}",
                        width=80, subsequent_indent="  ", break_on_hyphens=False))
    half = len(info.sha256) // 2 + 1  # 16 of the 32 bytes per line, split after a colon
    print(f"Its SHA-256 fingerprint (students can compare):\n  {info.sha256[:half]}\n  {info.sha256[half:]}")
    print()
    # Commands that work as printed, from any folder: absolute paths, real names.
    cert, key, ca = (p.resolve() for p in (paths.server_cert, paths.server_key, paths.ca_cert))
    host = _student_host(args, names)
    print("Start the server:  chatlab server --tls" + (f" --cert {cert} --key {key}" if custom_dir else ""))
    print(f"Try it here:       chatlab client 127.0.0.1 --tls --cafile {ca}")
    print(f"Give students:     {ca} (the CA certificate only, never a key)")
    print(f"Students connect:  chatlab client {host} --tls --cafile ca.pem")
    print("                   in the folder where they saved ca.pem (or with its path);")
    print(f"                   any name or address listed above works instead of {host}")
    print()
    print(WHY)
    return 0


def _student_host(args: argparse.Namespace, names) -> str:
    """The address students most likely dial: the instructor's own --ip or
    --host first, else this machine's first LAN address, else its name."""
    if args.ip or args.host:
        return (args.ip or args.host)[0]
    lan = [ip for ip in names.ips if not ip.is_loopback]
    if lan:
        return str(lan[0])
    return next((name for name in names.dns if name != "localhost"), "HOST")


def _show(args: argparse.Namespace) -> int:
    from lab.tls.certs import describe, signed_by
    from lab.tls.contexts import CA_CERT, lab_paths

    paths = lab_paths(args.dir)
    files = args.files or [str(paths.server_cert), str(paths.ca_cert)]
    infos = [describe(name) for name in files]  # every file is read (and refused in one line) before printing
    given_cas = [info.path for info in infos if info.is_ca]
    for i, info in enumerate(infos):
        if i:
            print()
        print(f"{info.path}")
        print(f"  subject:      {info.subject}")
        print(f"  issued by:    {info.issuer}" + ("  (itself: a CA's own certificate)" if info.issuer == info.subject else ""))
        print(f"  is a CA:      {'yes: it can sign other certificates' if info.is_ca else 'no'}")
        if info.dns or info.ips:
            print(f"  names (SANs): {', '.join(info.dns + info.ips)}")
        print(f"  valid:        {info.not_before:%Y-%m-%d %H:%M} to {info.not_after:%Y-%m-%d %H:%M} UTC: {info.status()}")
        print(f"  SHA-256:      {info.sha256}")
        if not info.is_ca:
            ca = _ca_to_check(info.path, args.dir, given_cas, paths.ca_cert, CA_CERT)
            if ca is None:
                print(f"  signed by:    not checked (no {CA_CERT} beside it or in {paths.dir}; "
                      "name the CA too: chatlab tls show CERT CA)")
            else:
                ok = signed_by(info.path, ca)
                print(f"  signed by {ca}: {'yes' if ok else 'NO: clients trusting this CA will refuse it'}")
    return 0


def _ca_to_check(cert: Path, directory: str | None, given_cas: list[Path], default_ca: Path, ca_name: str):
    """The CA certificate to check CERT against: the one in --dir; else a CA
    named on the command line; else the ca.pem beside CERT (the folder `tls
    init --dir` wrote); else the default lab CA.  None when there is none."""
    beside = cert.parent / ca_name
    for candidate in ([default_ca] if directory is not None else []) + given_cas + [beside, default_ca]:
        if candidate.exists():
            return candidate
    return None
