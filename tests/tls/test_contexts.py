"""The SSL contexts' settings and their one-line configuration errors."""

from __future__ import annotations

import ssl

import pytest

from lab.tls import TlsConfigError, client_context, default_dir, explain_verify_error, server_context


def test_server_context_needs_tls12(lab):
    ctx = server_context(lab.server_cert, lab.server_key)
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2


def test_client_context_verifies_by_default(lab):
    ctx = client_context(lab.ca_cert)
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2
    assert ctx.verify_mode == ssl.CERT_REQUIRED
    assert ctx.check_hostname is True
    assert any("chat-lab CA" in str(c.get("subject")) for c in ctx.get_ca_certs())


def test_insecure_client_context():
    ctx = client_context(verify=False)
    assert ctx.verify_mode == ssl.CERT_NONE
    assert ctx.check_hostname is False


def test_missing_files_say_what_to_do(tmp_path, lab):
    with pytest.raises(TlsConfigError, match="chatlab tls init"):
        server_context(tmp_path / "nope.pem", tmp_path / "nope-key.pem")
    with pytest.raises(TlsConfigError, match="ca.pem"):
        client_context(tmp_path / "missing-ca.pem")
    with pytest.raises(TlsConfigError, match="needs --key"):
        server_context(lab.server_cert, None)


def test_mismatched_key_is_one_line(lab, other_lab):
    with pytest.raises(TlsConfigError) as info:
        server_context(lab.server_cert, other_lab.server_key)
    assert "\n" not in str(info.value)
    assert "chatlab tls init --force" in str(info.value)


def test_not_a_certificate(tmp_path):
    bogus = tmp_path / "ca.pem"
    bogus.write_text("hello\n")
    with pytest.raises(TlsConfigError, match="not a CA certificate"):
        client_context(bogus)


def test_default_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("CHATLAB_TLS_DIR", str(tmp_path / "x"))
    assert default_dir() == tmp_path / "x"
    monkeypatch.delenv("CHATLAB_TLS_DIR")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    assert default_dir() == tmp_path / "cfg" / "chatlab" / "tls"


def test_default_client_context_trusts_the_per_user_lab_ca(monkeypatch, lab):
    monkeypatch.setenv("CHATLAB_TLS_DIR", str(lab.dir))
    ctx = client_context()
    assert any("chat-lab CA" in str(c.get("subject")) for c in ctx.get_ca_certs())


def test_unknown_verify_code_still_one_line():
    exc = ssl.SSLCertVerificationError(1, "certificate verify failed")
    exc.verify_code = 999
    exc.verify_message = "something odd"
    text = explain_verify_error(exc)
    assert "something odd" in text and "\n" not in text
