"""Fingerprint registry (seed 001 §7.4): proves that data were not altered.

Every stored frame keeps its SM3 fingerprint and its raw signed bytes.  Two
questions are answered:
- a whole frame: does its signature verify with the gateway's enrolled key,
  and is this exact body (by fingerprint) what the centre stored?
- one record with its hash-tree proof: does the proof lead from the record to
  a root, is that root in a frame this centre stored whose signature still
  verifies, and does the centre hold the same record under that sequence number?
"""

from __future__ import annotations

from typing import Any

from server.store import frames, gateways
from server.db import Connection
from server.views import iso
from shared.codec import frame as framing
from shared.codec import sm2


def _stored_frame_valid(row: frames.FrameRow, key: sm2.PublicKey) -> framing.Frame | None:
    try:
        decoded = framing.decode(row.raw)
    except framing.FrameError:
        return None
    return decoded if decoded.verify(key) else None


def check_frame(conn: Connection, decoded: framing.Frame) -> dict[str, Any]:
    gw = gateways.get_gateway(conn, decoded.gateway_id)
    fp = decoded.fingerprint()
    out: dict[str, Any] = {'gateway': decoded.gateway_id, 'fingerprint': fp.hex(),
                           'seq_first': decoded.seq_first, 'seq_last': decoded.seq_last}
    if gw is None:
        return dict(out, match=False, reason='unknown_gateway', signature_valid=None, stored=False)
    signature_valid = decoded.verify(sm2.PublicKey(gw.public_key))
    row = frames.frame_by_fingerprint(conn, fp)
    stored = row is not None and row.gateway == decoded.gateway_id
    out.update(signature_valid=signature_valid, stored=stored)
    if stored:
        out.update(frame_id=row.id, received_at=iso(row.received_at))
    if not signature_valid:
        return dict(out, match=False, reason='bad_signature')
    if not stored:
        return dict(out, match=False, reason='not_stored')
    return dict(out, match=True, reason='ok')


def check_record(conn: Connection, gateway: str, record: framing.Record, index: int, size: int,
                 path: list[bytes], root: bytes) -> dict[str, Any]:
    out: dict[str, Any] = {'gateway': gateway, 'seq': record.seq, 'root': root.hex()}
    if not framing.verify_record_proof(gateway, record, index, size, path, root):
        return dict(out, match=False, reason='proof_mismatch')
    gw = gateways.get_gateway(conn, gateway)
    if gw is None:
        return dict(out, match=False, reason='unknown_gateway')
    key = sm2.PublicKey(gw.public_key)
    for row in frames.frames_by_root(conn, gateway, root):
        decoded = _stored_frame_valid(row, key)
        if decoded is None:
            return dict(out, match=False, reason='stored_frame_invalid', frame=row.fingerprint.hex())
        if len(decoded.records) != size or decoded.seq_first + index != record.seq:
            continue
        held = frames.get_record(conn, gateway, record.seq)
        if held is None:
            return dict(out, match=False, reason='not_stored')
        if not frames.same_record(held.record(), record):
            return dict(out, match=False, reason='differs_from_stored', frame=row.fingerprint.hex())
        return dict(out, match=True, reason='ok', frame=row.fingerprint.hex(), received_at=iso(row.received_at))
    return dict(out, match=False, reason='not_stored')


def record_proof(conn: Connection, gateway: str, seq: int) -> dict[str, Any] | None:
    """Everything a third party needs to check one stored record without trusting us."""
    held = frames.get_record(conn, gateway, seq)
    if held is None:
        return None
    row = frames.get_frame(conn, held.frame)
    decoded = framing.decode(row.raw)
    gw = gateways.get_gateway(conn, gateway)
    path = decoded.proof(held.idx)
    return {
        'proof': {'index': held.idx, 'size': len(decoded.records), 'path': [h.hex() for h in path],
                  'root': decoded.root.hex()},
        'frame': {'fingerprint': row.fingerprint.hex(), 'body': decoded.body.hex(),
                  'signature': decoded.signature.hex(), 'received_at': iso(row.received_at)},
        'public_key': gw.public_key.hex(),
        'signer_id': '1234567812345678',
    }
