"""`chatlab tls init` / `show`: the files, their permissions, their names,
and the command line as a student runs it (a real process)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from lab.tls.certs import CertError, describe, init_lab_files, local_ipv4_addresses, signed_by

ROOT = Path(__file__).resolve().parents[2]


def _cert(path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(Path(path).read_bytes())


def _chatlab(*args: str, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, **(env_extra or {}))
    return subprocess.run(
        [sys.executable, "-m", "lab", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_init_makes_a_ca_and_a_server_certificate_it_signed(lab):
    ca, server = _cert(lab.ca_cert), _cert(lab.server_cert)
    bc = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca is True
    assert ca.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign is True
    assert server.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    server.verify_directly_issued_by(ca)  # raises if the CA did not sign it
    assert signed_by(lab.server_cert, lab.ca_cert)


def test_a_different_ca_did_not_sign_it(lab, other_lab):
    assert not signed_by(lab.server_cert, other_lab.ca_cert)


def test_server_certificate_names(lab):
    san = _cert(lab.server_cert).extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    dns = san.get_values_for_type(x509.DNSName)
    ips = san.get_values_for_type(x509.IPAddress)
    assert "localhost" in dns
    assert socket.gethostname().lower() in dns
    assert ipaddress.ip_address("127.0.0.1") in ips
    assert ipaddress.ip_address("::1") in ips
    for ip in local_ipv4_addresses():
        assert ip in ips


def test_extra_hosts_and_ips(tmp_path):
    paths, _ = init_lab_files(tmp_path / "t", hosts=["chat.lab.example", "10.9.8.7"], ips=["192.168.50.1", "fd00::5"])
    info = describe(paths.server_cert)
    assert "chat.lab.example" in info.dns
    assert {"10.9.8.7", "192.168.50.1", "fd00::5"} <= set(info.ips)


@pytest.mark.parametrize("hosts,ips", [(["bad host"], []), (["-x.example"], []), ([], ["300.1.1.1"]), ([], ["lab"])])
def test_invalid_names_are_refused(tmp_path, hosts, ips):
    with pytest.raises(CertError):
        init_lab_files(tmp_path / "t", hosts=hosts, ips=ips)
    assert not (tmp_path / "t" / "ca.pem").exists()


def test_keys_are_private(lab):
    for key in (lab.ca_key, lab.server_key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key
    for cert in (lab.ca_cert, lab.server_cert):
        assert stat.S_IMODE(cert.stat().st_mode) == 0o644, cert


def test_refuses_to_overwrite_without_force(tmp_path):
    paths, _ = init_lab_files(tmp_path / "t")
    before = {p: p.read_bytes() for p in (paths.ca_cert, paths.ca_key, paths.server_cert, paths.server_key)}
    with pytest.raises(CertError, match="--force"):
        init_lab_files(tmp_path / "t")
    assert {p: p.read_bytes() for p in before} == before
    init_lab_files(tmp_path / "t", force=True)
    assert all(p.read_bytes() != data for p, data in before.items())
    assert stat.S_IMODE(paths.ca_key.stat().st_mode) == 0o600
    assert not list((tmp_path / "t").glob(".*.tmp"))


def test_expired_status(expired_lab):
    info = describe(expired_lab.server_cert)
    assert info.status().startswith("EXPIRED")
    assert info.not_after < dt.datetime.now(dt.timezone.utc)


def test_local_addresses_are_not_loopback():
    for ip in local_ipv4_addresses():
        assert not ip.is_loopback


def test_cli_init_and_show(tmp_path):
    target = tmp_path / "tls"
    done = _chatlab("tls", "init", "--dir", str(target), "--host", "chat.example")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "give THIS file to students" in out and "ca.pem" in out
    assert "never hand it out" in out
    assert "PRIVATE KEY" not in out  # no key material on the screen
    assert "certificate authority" in out
    assert str(target / "server.pem") in out  # non-default dir: the exact --cert/--key to use

    again = _chatlab("tls", "init", "--dir", str(target))
    assert again.returncode == 1
    assert "--force" in again.stderr
    assert "Traceback" not in again.stderr and again.stderr.count("\n") == 1

    show = _chatlab("tls", "show", "--dir", str(target))
    assert show.returncode == 0, show.stderr
    fingerprint = _cert(target / "server.pem").fingerprint(hashes.SHA256()).hex().upper()
    assert ":".join(fingerprint[i : i + 2] for i in range(0, len(fingerprint), 2)) in show.stdout
    assert "chat.example" in show.stdout and "127.0.0.1" in show.stdout
    assert "signed by" in show.stdout and ": yes" in show.stdout
    assert "valid for" in show.stdout


def test_cli_default_dir_from_environment(tmp_path):
    env = {"CHATLAB_TLS_DIR": str(tmp_path / "per-user")}
    done = _chatlab("tls", "init", env_extra=env)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "per-user" / "ca.pem").exists()
    assert "chatlab server --tls\n" in done.stdout  # default dir: no --cert/--key needed


def test_cli_show_missing_file_is_one_line(tmp_path):
    done = _chatlab("tls", "show", "--dir", str(tmp_path / "nothing"))
    assert done.returncode == 1
    assert "chatlab tls init" in done.stderr
    assert "Traceback" not in done.stderr
