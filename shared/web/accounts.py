"""People's accounts, sessions and the audit log: the one implementation the gateway's
page and the platform's console share (CPython, SQLite in a file of the owner's choice).

- No default password: an empty store has no account; the first one made is an admin.
- Roles viewer < operator < admin; a role includes the ones below it.
- Passwords hashed with scrypt (memory-hard), OWASP's N=2^14, r=8, p=5: 16 MiB and about
  0.3 s a hash on a PC core, within the gateway's memory budget; a salt each, compared
  in constant time.
- Sessions: a random token in an HttpOnly, SameSite=Strict cookie, kept here only as
  its SHA-256; ended by signing out, 30 minutes idle or 12 hours in all; each holds the
  CSRF token that every change must carry.
- Lock-out: five wrong passwords in a row lock the account for 15 minutes; twenty
  failures from one address in 15 minutes stop that address trying, before any hash
  is computed; sign-in attempts for unknown names cost the same hash, so names cannot
  be told by timing.
- Safe to call from threads (the pages hash in a worker thread, never on the event
  loop that also runs the gateway's acquisition).
- Every change is written to the audit log with who and when."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

ROLES = ('viewer', 'operator', 'admin')
NAME_RE = re.compile(r'[A-Za-z0-9_.-]{1,32}')
PASSWORD_MIN = 10
SCRYPT_N, SCRYPT_R, SCRYPT_P = 1 << 14, 8, 5
FAILURES_TO_LOCK = 5
LOCK_S = 15 * 60
ADDRESS_FAILURES = 20            # failed sign-ins from one address within LOCK_S before it may not try
IDLE_S = 30 * 60
ABSOLUTE_S = 12 * 3600

SCHEMA = '''
CREATE TABLE IF NOT EXISTS accounts (
    name TEXT PRIMARY KEY, role TEXT NOT NULL, hash TEXT NOT NULL, created_at REAL NOT NULL,
    failures INTEGER NOT NULL DEFAULT 0, locked_until REAL NOT NULL DEFAULT 0, disabled INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS sessions (
    token_hash TEXT PRIMARY KEY, name TEXT NOT NULL, csrf TEXT NOT NULL, created_at REAL NOT NULL,
    seen_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, who TEXT NOT NULL, action TEXT NOT NULL,
    detail TEXT NOT NULL);
'''


class AccountError(ValueError):
    """A refusal a person can act on; `field` names the form field it belongs next to."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Session:
    token: str          # only known right after sign-in (for the cookie); '' when loaded
    name: str
    role: str
    csrf: str

    def may(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode('utf-8'), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P,
                            maxmem=64 * 1024 * 1024, dklen=32)
    return 'scrypt$%d$%d$%d$%s$%s' % (SCRYPT_N, SCRYPT_R, SCRYPT_P, salt.hex(), digest.hex())


def check_password(password: str, stored: str) -> bool:
    try:
        kind, n, r, p, salt, digest = stored.split('$')
        got = hashlib.scrypt(password.encode('utf-8'), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p),
                             maxmem=64 * 1024 * 1024, dklen=32)
    except (ValueError, TypeError):
        return False
    return kind == 'scrypt' and hmac.compare_digest(got.hex(), digest)


_DUMMY = hash_password('not an account', b'\0' * 16)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode('ascii', 'replace')).hexdigest()


def check_new_password(password: str, name: str) -> None:
    if len(password) < PASSWORD_MIN:
        raise AccountError('password', 'too_short')
    if password.lower() == name.lower() or len(set(password)) < 4:
        raise AccountError('password', 'too_simple')


class Accounts:
    def __init__(self, path: str | Path, clock: Callable[[], float] = time.time) -> None:
        self.path = str(path)
        self.clock = clock
        self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.db.execute('PRAGMA journal_mode=WAL')
        self.db.executescript(SCHEMA)
        self.lock = threading.RLock()               # one statement at a time, from any thread
        self._address_failures: dict[str, list[float]] = {}

    def close(self) -> None:
        self.db.close()

    def empty(self) -> bool:
        with self.lock:
            return self.db.execute('SELECT count(*) FROM accounts').fetchone()[0] == 0

    def list(self) -> list[dict]:
        with self.lock:
            rows = self.db.execute('SELECT name, role, created_at, locked_until, disabled FROM accounts '
                                   'ORDER BY name').fetchall()
        return [{'name': n, 'role': r, 'created_at': c, 'locked': lu > self.clock(), 'disabled': bool(d)}
                for n, r, c, lu, d in rows]

    def audit(self, who: str, action: str, detail: dict | str = '') -> None:
        text = detail if isinstance(detail, str) else json.dumps(detail, ensure_ascii=False, sort_keys=True)
        with self.lock:
            self.db.execute('INSERT INTO audit (at, who, action, detail) VALUES (?, ?, ?, ?)',
                            (self.clock(), who, action, text))

    def audit_log(self, limit: int = 200) -> list[dict]:
        with self.lock:
            rows = self.db.execute('SELECT at, who, action, detail FROM audit ORDER BY id DESC LIMIT ?',
                                   (limit,)).fetchall()
        return [{'at': at, 'who': who, 'action': action, 'detail': detail} for at, who, action, detail in rows]

    def create(self, name: str, password: str, role: str, actor: str) -> None:
        """A new account; AccountError naming the field when the name, role or password will not do.
        The first account of an empty store must be an admin."""
        if not NAME_RE.fullmatch(name):
            raise AccountError('name', 'bad_name')
        if role not in ROLES:
            raise AccountError('role', 'bad_role')
        if self.empty() and role != 'admin':
            raise AccountError('role', 'first_is_admin')
        check_new_password(password, name)
        hashed = hash_password(password)
        with self.lock:
            if self.empty() and role != 'admin':
                raise AccountError('role', 'first_is_admin')
            try:
                self.db.execute('INSERT INTO accounts (name, role, hash, created_at) VALUES (?, ?, ?, ?)',
                                (name, role, hashed, self.clock()))
            except sqlite3.IntegrityError:
                raise AccountError('name', 'name_taken')
            self.audit(actor, 'account.create', {'name': name, 'role': role})

    def set_password(self, name: str, password: str, actor: str) -> None:
        check_new_password(password, name)
        hashed = hash_password(password)
        with self.lock:
            cur = self.db.execute('UPDATE accounts SET hash = ?, failures = 0, locked_until = 0 WHERE name = ?',
                                  (hashed, name))
            if not cur.rowcount:
                raise AccountError('name', 'no_such_account')
            self.db.execute('DELETE FROM sessions WHERE name = ?', (name,))     # every session of it ends
            self.audit(actor, 'account.password', {'name': name})

    def _other_admins(self, name: str) -> int:
        return self.db.execute("SELECT count(*) FROM accounts WHERE role = 'admin' AND disabled = 0 AND name != ?",
                               (name,)).fetchone()[0]

    def set_role(self, name: str, role: str, actor: str) -> None:
        """Change an account's role (its sessions end: it signs in again with the new one); the
        last administrator stays one."""
        if role not in ROLES:
            raise AccountError('role', 'bad_role')
        with self.lock:
            row = self.db.execute('SELECT role FROM accounts WHERE name = ?', (name,)).fetchone()
            if row is None:
                raise AccountError('name', 'no_such_account')
            if row[0] == 'admin' and role != 'admin' and not self._other_admins(name):
                raise AccountError('role', 'last_admin')
            self.db.execute('UPDATE accounts SET role = ? WHERE name = ?', (role, name))
            self.db.execute('DELETE FROM sessions WHERE name = ?', (name,))
            self.audit(actor, 'account.role', {'name': name, 'from': row[0], 'to': role})

    def set_disabled(self, name: str, disabled: bool, actor: str) -> None:
        """Disable an account (its sessions end, it cannot sign in; kept for the audit log) or enable
        it again; the last administrator cannot be disabled."""
        with self.lock:
            row = self.db.execute('SELECT role FROM accounts WHERE name = ?', (name,)).fetchone()
            if row is None:
                raise AccountError('name', 'no_such_account')
            if disabled and row[0] == 'admin' and not self._other_admins(name):
                raise AccountError('role', 'last_admin')
            self.db.execute('UPDATE accounts SET disabled = ?, failures = 0, locked_until = 0 WHERE name = ?',
                            (1 if disabled else 0, name))
            if disabled:
                self.db.execute('DELETE FROM sessions WHERE name = ?', (name,))
            self.audit(actor, 'account.disable' if disabled else 'account.enable', {'name': name})

    def verify(self, name: str, password: str) -> bool:
        """Whether `password` is the account's (a person changing their own password proves it)."""
        with self.lock:
            row = self.db.execute('SELECT hash FROM accounts WHERE name = ?', (name,)).fetchone()
        return check_password(password, row[0] if row else _DUMMY) and row is not None

    def _address_blocked(self, address: str, now: float) -> bool:
        recent = [t for t in self._address_failures.get(address, []) if t > now - LOCK_S]
        self._address_failures[address] = recent
        if len(self._address_failures) > 10_000:         # many addresses: keep only those still failing
            self._address_failures = {a: ts for a, ts in self._address_failures.items() if ts}
        return len(recent) >= ADDRESS_FAILURES

    def _failed(self, address: str, now: float) -> None:
        self._address_failures.setdefault(address, []).append(now)

    def sign_in(self, name: str, password: str, address: str) -> Session:
        now = self.clock()
        with self.lock:
            if self._address_blocked(address, now):
                self.audit(name[:64] or '-', 'signin.address_locked', {'address': address})
                raise AccountError('password', 'locked')
            row = self.db.execute('SELECT role, hash, failures, locked_until, disabled FROM accounts WHERE name = ?',
                                  (name,)).fetchone()
        if row is None:
            check_password(password, _DUMMY)             # the same time as for a real account
            with self.lock:
                self._failed(address, now)
                self.audit(name[:64] or '-', 'signin.failed', {'address': address, 'why': 'unknown name'})
            raise AccountError('password', 'bad_credentials')
        role, stored, failures, locked_until, disabled = row
        if locked_until > now:
            with self.lock:
                self.audit(name, 'signin.locked', {'address': address})
            raise AccountError('password', 'locked')
        if disabled or not check_password(password, stored):
            with self.lock:
                self._failed(address, now)
                failures = self.db.execute('SELECT failures FROM accounts WHERE name = ?', (name,)).fetchone()[0] + 1
                lock = now + LOCK_S if failures >= FAILURES_TO_LOCK else 0
                self.db.execute('UPDATE accounts SET failures = ?, locked_until = ? WHERE name = ?',
                                (0 if lock else failures, lock, name))
                self.audit(name, 'signin.failed', {'address': address, 'locked_for_s': LOCK_S if lock else 0})
            raise AccountError('password', 'locked' if lock else 'bad_credentials')
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
        with self.lock:
            self.db.execute('UPDATE accounts SET failures = 0 WHERE name = ?', (name,))
            self.db.execute('DELETE FROM sessions WHERE seen_at < ? OR created_at < ?',
                            (now - IDLE_S, now - ABSOLUTE_S))
            self.db.execute('INSERT INTO sessions VALUES (?, ?, ?, ?, ?)', (_token_hash(token), name, csrf, now, now))
            self.audit(name, 'signin', {'address': address})
        return Session(token, name, role, csrf)

    def session(self, token: str) -> Session | None:
        """The live session of this cookie value, or None (unknown, idle too long, too old)."""
        if not token:
            return None
        now = self.clock()
        key = _token_hash(token)
        with self.lock:
            row = self.db.execute('SELECT s.name, a.role, s.csrf, s.created_at, s.seen_at, a.disabled FROM sessions s '
                                  'JOIN accounts a ON a.name = s.name WHERE s.token_hash = ?', (key,)).fetchone()
            if row is None:
                return None
            name, role, csrf, created, seen, disabled = row
            if disabled or now - seen > IDLE_S or now - created > ABSOLUTE_S:
                self.db.execute('DELETE FROM sessions WHERE token_hash = ?', (key,))
                return None
            if now - seen > 30:
                self.db.execute('UPDATE sessions SET seen_at = ? WHERE token_hash = ?', (now, key))
        return Session('', name, role, csrf)

    def sign_out(self, token: str, who: str) -> None:
        with self.lock:
            self.db.execute('DELETE FROM sessions WHERE token_hash = ?', (_token_hash(token),))
        self.audit(who, 'signout')
