"""Which gateway a data directory belongs to (issue 13): its id and the fingerprint of
its key, recorded in DATA_DIR/identity.json when the directory is first used.  A
gateway started on another gateway's directory, or with another key, is refused before
it touches anything: its readings would go out under the other's sequence numbers."""

from __future__ import annotations

import json
import os
import time

from firmware.lib.durable import fsync, fsync_dir
from firmware.settings import GatewayConfigError

FILE = 'identity.json'


def check(data_dir: str, gateway_id: str, key_fingerprint: str) -> str | None:
    """Refuse a data directory of another gateway or key; record ours in a directory
    that has none.  Returns a note for the log when it recorded one, else None."""
    path = os.path.join(data_dir, FILE)
    try:
        with open(path) as f:
            known = json.load(f)
    except FileNotFoundError:
        known = None
    except (OSError, ValueError) as e:
        raise GatewayConfigError('%s: unreadable (%s); it says which gateway this data directory belongs to: '
                                 'restore it, or move the directory away to start afresh' % (path, e))
    if known is not None:
        if known.get('gateway') != gateway_id:
            raise GatewayConfigError(
                'data_dir %s belongs to gateway %s, not %s: give each gateway its own data_dir (its log holds '
                'the other gateway\'s readings and sequence numbers)' % (data_dir, known.get('gateway'), gateway_id))
        if known.get('key') != key_fingerprint:
            raise GatewayConfigError(
                'data_dir %s belongs to gateway %s with the key %s, but gateway.key is the key %s: use the key the '
                'centres have enrolled, or re-enrol the gateway with the new key and move the old data_dir away'
                % (data_dir, gateway_id, known.get('key'), key_fingerprint))
        return None
    had_log = any(name.startswith('seg-') for name in os.listdir(data_dir))
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        json.dump({'gateway': gateway_id, 'key': key_fingerprint,
                   'since': time.strftime('%Y-%m-%dT%H:%M:%S%z')}, f)
        fsync(f)
    os.replace(tmp, path)
    fsync_dir(data_dir)
    return 'data_dir %s recorded as gateway %s, key %s%s' % (
        data_dir, gateway_id, key_fingerprint, ' (its log was already there)' if had_log else '')
