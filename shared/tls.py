"""TLS for the upload exchange (seed 001 §7.4; issue 14 item 9), CPython only.

Outside loopback every exchange is TLS by default:
  - the centre serves HTTPS (its own certificate, or one it makes itself on first start);
  - a sender (gateway, or a centre fanning out) refuses http:// to a host that is not
    loopback unless told `plain_http = true`, and trusts the centre by its pinned
    certificate (`pin_sha256`), a CA file (`ca_file`), or else the system's CAs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import os
import socket
import ssl
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp


class TLSConfigError(ValueError):
    """A TLS setting that cannot be used; the message names it."""


def is_loopback(host: str) -> bool:
    host = host.strip('[]')
    if host == 'localhost':
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def normal_pin(text: str, where: str) -> bytes:
    """The 32 bytes of a SHA-256 pin given as hex, with or without colons."""
    digits = text.replace(':', '').strip()
    try:
        pin = bytes.fromhex(digits)
    except ValueError:
        pin = b''
    if len(pin) != 32:
        raise TLSConfigError('%s.pin_sha256 must be the 64 hex digits of the centre certificate\'s SHA-256 '
                             '(the server prints it when it starts)' % where)
    return pin


def check_sender(url: str, where: str, ca_file: str = '', pin_sha256: str = '', plain_http: bool = False) -> None:
    """Refuse the settings of a sender that would send readings in the clear or trust nothing checkable."""
    parts = urlsplit(url)
    if parts.scheme == 'http' and not plain_http and not is_loopback(parts.hostname or ''):
        raise TLSConfigError('%s.url: http:// would send readings in the clear to %s; use https:// (with '
                             'pin_sha256 or ca_file), or set plain_http = true if a TLS tunnel carries it'
                             % (where, parts.hostname))
    if (ca_file or pin_sha256) and parts.scheme != 'https':
        raise TLSConfigError('%s: ca_file and pin_sha256 apply to an https:// url' % where)
    if ca_file and pin_sha256:
        raise TLSConfigError('%s: give pin_sha256 or ca_file, not both' % where)
    if pin_sha256:
        normal_pin(pin_sha256, where)
    if ca_file and not os.path.isfile(ca_file):
        raise TLSConfigError('%s.ca_file: %s does not exist' % (where, ca_file))


def client_ssl(ca_file: str = '', pin_sha256: str = '') -> object:
    """What aiohttp's connector takes as `ssl`: a pinned fingerprint, a context trusting one
    CA file, or True (the system's CAs)."""
    if pin_sha256:
        return aiohttp.Fingerprint(normal_pin(pin_sha256, 'centre'))
    if ca_file:
        return ssl.create_default_context(cafile=ca_file)
    return True


def session(timeout_s: float, ca_file: str = '', pin_sha256: str = '') -> aiohttp.ClientSession:
    """A client session for one centre, trusting it as its settings say."""
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s),
                                 connector=aiohttp.TCPConnector(ssl=client_ssl(ca_file, pin_sha256)))


def explain(error: BaseException) -> str | None:
    """A sentence for the TLS failures a person must act on, None for the rest."""
    if isinstance(error, aiohttp.ServerFingerprintMismatch):
        return ('the centre\'s certificate (SHA-256 %s) does not match pin_sha256: a different server '
                'answers, or the centre changed its certificate' % error.got.hex())
    if isinstance(error, aiohttp.ClientConnectorCertificateError):
        return 'the centre\'s certificate is not trusted (%s); set ca_file or pin_sha256' % error.certificate_error
    return None


def certificate_sha256(cert_pem: bytes) -> str:
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(cert_pem.decode('ascii'))).hexdigest()


def own_certificate(directory: str | Path, host: str) -> tuple[Path, Path]:
    """The centre's self-made certificate and key in `directory`, made on first use (an ECDSA
    P-256 key, mode 0600, valid ten years, named for the host, this machine and loopback)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    directory = Path(directory)
    cert_path, key_path = directory / 'server.crt', directory / 'server.key'
    if cert_path.exists() and key_path.exists():
        return cert_path, key_path
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [x509.DNSName('localhost'), x509.DNSName(socket.gethostname()),
                                     x509.IPAddress(ipaddress.ip_address('127.0.0.1')),
                                     x509.IPAddress(ipaddress.ip_address('::1'))]
    try:
        ip = ipaddress.ip_address(host)
        if not ip.is_unspecified and not ip.is_loopback:
            names.append(x509.IPAddress(ip))
    except ValueError:
        if host and host != 'localhost':
            names.append(x509.DNSName(host))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, 'Tanji centre %s' % socket.gethostname())])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(key, hashes.SHA256()))
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, 'wb') as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    tmp = cert_path.with_suffix('.tmp')
    tmp.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    os.replace(tmp, cert_path)
    return cert_path, key_path
