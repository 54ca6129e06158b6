"""Administrative actions, each in one transaction with its audit entry; used
by the HTTP API (actor = token name) and by `tanji server ...` (actor = cli:USER)."""

from __future__ import annotations

import hashlib
import secrets

from server.store import StoreError, gateways, tokens
from server.db import Connection
from shared.codec import sm2

ROLES = ('operator', 'admin')
TOKEN_PREFIX = 'tj_'


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode('utf-8')).digest()


def parse_public_key(text: str | bytes) -> bytes:
    """The 65-byte 04||x||y point of a PEM, DER or hex SM2 public key; StoreError if unusable."""
    try:
        return sm2.PublicKey.load(text).point
    except (sm2.KeyError_, ValueError) as e:
        raise StoreError('public key: %s' % e)


def enrol(conn: Connection, actor: str, gateway: str, key: str | bytes, enterprise: str, site: str,
          first_seq: int, now_ms: int) -> gateways.Gateway:
    point = parse_public_key(key)
    try:
        gw = gateways.enrol_gateway(conn, gateway, point, enterprise, site, first_seq, now_ms)
    except ValueError as e:  # FrameError from the gateway-id rule
        raise StoreError(getattr(e, 'detail', str(e)))
    tokens.audit(conn, actor, 'gateway.enrol', gateway,
                {'enterprise': enterprise, 'site': site, 'first_seq': first_seq,
                 'key_fingerprint': sm2.PublicKey(point).fingerprint()}, now_ms)
    return gw


def revoke(conn: Connection, actor: str, gateway: str, reason: str, now_ms: int) -> gateways.Gateway:
    gw = gateways.revoke_gateway(conn, gateway, reason, now_ms)
    tokens.audit(conn, actor, 'gateway.revoke', gateway, {'reason': reason}, now_ms)
    return gw


def add_token(conn: Connection, actor: str, name: str, role: str, now_ms: int) -> str:
    if role not in ROLES:
        raise StoreError('role must be one of %s' % ', '.join(ROLES))
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    tokens.add_token(conn, name, role, token_hash(token), now_ms)
    tokens.audit(conn, actor, 'token.add', name, {'role': role}, now_ms)
    return token


def revoke_token(conn: Connection, actor: str, name: str, now_ms: int) -> None:
    tokens.revoke_token(conn, name, now_ms)
    tokens.audit(conn, actor, 'token.revoke', name, {}, now_ms)
