"""`chatlab tls`: make and inspect the lab certificate authority.

    chatlab tls init [--dir DIR] [--host NAME ...] [--ip ADDR ...] [--days N] [--force]
    chatlab tls show [--dir DIR] [FILE ...]
"""

from __future__ import annotations

import argparse
import sys

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
    print(f"Made a lab certificate authority (CA) and a server certificate in {paths.dir}:\n")
    print(f"  {paths.ca_cert.name:<15} the CA certificate: give THIS file to students (it is public)")
    print(f"  {paths.ca_key.name:<15} the CA's private key: keep it secret, never hand it out (mode 0600)")
    print(f"  {paths.server_cert.name:<15} the server certificate, signed by the CA")
    print(f"  {paths.server_key.name:<15} the server's private key: stays on this machine (mode 0600)")
    print()
    listed = ", ".join(names.dns + [str(ip) for ip in names.ips])
    print(f"The server certificate is valid until {info.not_after:%Y-%m-%d} for: {listed}")
    print(f"Its SHA-256 fingerprint (students can compare): {info.sha256}")
    print()
    if custom_dir:
        print(f"Start the server:  chatlab server --tls --cert {paths.server_cert} --key {paths.server_key}")
    else:
        print("Start the server:  chatlab server --tls")
    print(f"Give students:     {paths.ca_cert}   (the CA certificate only, never a key)")
    print("Students connect:  chatlab client --tls --cafile ca.pem HOST   (HOST: one of the names above)")
    print()
    print(WHY)
    return 0


def _show(args: argparse.Namespace) -> int:
    from lab.tls.certs import describe, signed_by
    from lab.tls.contexts import lab_paths

    paths = lab_paths(args.dir)
    files = args.files or [str(paths.server_cert), str(paths.ca_cert)]
    for i, name in enumerate(files):
        info = describe(name)
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
        if not info.is_ca and paths.ca_cert.exists() and info.path.resolve() != paths.ca_cert.resolve():
            ok = signed_by(info.path, paths.ca_cert)
            print(f"  signed by {paths.ca_cert}: {'yes' if ok else 'NO: clients trusting this CA will refuse it'}")
    return 0
