"""The upload exchange's server side (docs/protocol.md §7).

accept(raw) decodes the frame, finds the gateway's enrolled key, verifies the
SM2 signature over the body, checks the time range and hands the frame to the
writer.  The writer takes every frame waiting at that moment and stores them
in one transaction (group commit), then answers each with its ack.  Nothing of
a refused frame is stored; only the refusal is counted against the gateway.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

from server.envelope import peek
from server.limits import Limits, retry_after
from server.store import frames, gateways
from server.config import ServerConfig
from server.dbthreads import DatabaseThreads
from shared.aio import cancel_and_wait
from shared.delivery.exchange import position_message
from shared.codec import frame as framing
from shared.codec import sm2
from shared.seal import Sealed, SessionKeys, open_box

log = logging.getLogger('tanji.server.ingest')

STATUS = {
    'malformed': 400, 'version': 400, 'body': 400, 'records': 400, 'codes': 400, 'root_mismatch': 400,
    'bad_signature': 401, 'unknown_gateway': 403, 'revoked_gateway': 403, 'too_large': 413,
    'content_type': 415, 'time_range': 422, 'busy': 429, 'unavailable': 503, 'slow_body': 408, 'sealed': 400,
}
KEY_CACHE_SECONDS = 30.0
DECODE_INLINE_BYTES = 16 * 1024     # a verified frame larger than this is decoded in a thread, off the event loop
FAILURE_FLUSH_S = 1.0     # failures are counted in memory and written at most this often: never a write per request
MAX_BATCH_RECORDS = 50_000


class Rejected(Exception):
    """A refusal of the upload exchange: HTTP status, error code, detail."""

    def __init__(self, code: str, detail: str, retry_after: int | None = None, gateway: str | None = None) -> None:
        super().__init__('%s: %s' % (code, detail))
        self.code = code
        self.status = STATUS[code]
        self.detail = detail
        self.retry_after = retry_after
        self.gateway = gateway              # the gateway the request named, once known


@dataclass
class CachedGateway:
    id: int
    key: sm2.PublicKey
    revoked: bool
    loaded_at: float


class GatewayKeys:
    """Enrolled public keys, cached briefly; the writer re-checks revocation inside its transaction."""

    def __init__(self, db: DatabaseThreads, clock: Callable[[], float] = time.monotonic) -> None:
        self.db = db
        self.clock = clock
        self._cache: dict[str, CachedGateway | None] = {}
        self._missing_at: dict[str, float] = {}

    async def get(self, gateway: str) -> CachedGateway | None:
        now = self.clock()
        hit = self._cache.get(gateway)
        if hit is not None and now - hit.loaded_at < KEY_CACHE_SECONDS:
            return hit
        if hit is None and now - self._missing_at.get(gateway, -1e9) < 1.0:
            return None
        row = await self.db.read(gateways.get_gateway, gateway)
        if row is None:
            self._cache.pop(gateway, None)
            if len(self._missing_at) > 10_000:
                self._missing_at.clear()
            self._missing_at[gateway] = now
            return None
        entry = CachedGateway(row.id, sm2.PublicKey.load(row.public_key), row.revoked_at is not None, now)
        self._cache[gateway] = entry
        return entry

    def forget(self, gateway: str) -> None:
        self._cache.pop(gateway, None)
        self._missing_at.pop(gateway, None)


def load_private_key(path: str, setting: str) -> sm2.PrivateKey:
    """An SM2 private key the centre is configured with (seal_key, config_key); ConfigError
    naming the setting and the file otherwise."""
    from server.config import ConfigError
    try:
        with open(path, 'rb') as f:
            return sm2.PrivateKey.load(f.read())
    except OSError as e:
        raise ConfigError('server.%s: cannot read %s: %s' % (setting, path, e.strerror))
    except ValueError as e:
        raise ConfigError('server.%s: %s is not an SM2 private key: %s' % (setting, path, e))


class Ingest:
    def __init__(self, db: DatabaseThreads, config: ServerConfig, limits: Limits | None = None,
                 wall_clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.config = config
        self.limits = limits or Limits.of(config)
        self.wall_clock = wall_clock
        self.keys = GatewayKeys(db)
        self._queue: deque[tuple[frames.Incoming, asyncio.Future]] = deque()
        self._queued_records = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._listeners: list[asyncio.Event] = []
        # OpenSSL releases the GIL while it verifies, so threads put further cores to work
        self._verifier = (ThreadPoolExecutor(config.verify_threads, thread_name_prefix='tanji-verify')
                          if config.verify_threads else None)
        self.counters = {'frames': 0, 'records': 0, 'rejected': 0, 'batches': 0}
        self._decoder = ThreadPoolExecutor(1, thread_name_prefix='tanji-decode')
        self._failures: dict[int, list[int]] = {}     # gateway row id -> [signature failures, refused, last ms]
        self._flusher: asyncio.Task | None = None
        self.sessions = SessionKeys(load_private_key(config.seal_key, 'seal_key').d) if config.seal_key else None

    def listen(self) -> asyncio.Event:
        """An event set after every commit that stored frames (fan-out waits on it)."""
        event = asyncio.Event()
        self._listeners.append(event)
        return event

    async def start(self) -> None:
        self._task = asyncio.create_task(self._writer(), name='tanji-ingest-writer')
        self._flusher = asyncio.create_task(self._flush_loop(), name='tanji-ingest-failures')

    def _failed(self, gateway_id: int, signature: bool) -> None:
        f = self._failures.setdefault(gateway_id, [0, 0, 0])
        if signature:
            f[0] += 1
            f[2] = int(self.wall_clock() * 1000)
        else:
            f[1] += 1

    async def flush_failures(self) -> None:
        """Write the failures counted since the last flush (one transaction)."""
        if not self._failures:
            return
        pending, self._failures = self._failures, {}
        try:
            await self.db.write_tx(gateways.note_failures, pending)
        except Exception as e:          # counters are not worth a crash; they are counted again from now on
            log.error('could not record the failures of %d gateways: %s', len(pending), e)

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(FAILURE_FLUSH_S)
            await self.flush_failures()

    async def stop(self) -> None:
        if self._task is not None:
            while self._queue:
                await asyncio.sleep(0.01)
            await cancel_and_wait([self._task])
            self._task = None
        if self._flusher is not None:
            await cancel_and_wait([self._flusher])
            self._flusher = None
            await self.flush_failures()
        if self._verifier is not None:
            self._verifier.shutdown(wait=True)
        self._decoder.shutdown(wait=True)

    def _check_time(self, frame: framing.Frame) -> None:
        now_ms = int(self.wall_clock() * 1000)
        newest = max(r.ts_ms for r in frame.records)
        oldest = min(r.ts_ms for r in frame.records)
        if newest > now_ms + self.config.max_future_s * 1000:
            raise Rejected('time_range', 'record stamped %d s ahead of the centre clock (limit %d s)'
                           % ((newest - now_ms) // 1000, self.config.max_future_s))
        if oldest < now_ms - self.config.max_age_days * 86_400_000:
            raise Rejected('time_range', 'record older than the centre accepts (%d days)' % self.config.max_age_days)

    async def position(self, gateway_id: str, t_ms: int, sig: bytes) -> dict:
        """How far an enrolled gateway's sequence numbers go here ({'ack', 'last_seq'}), for a
        gateway that lost its log: asked with a signature over who and when (docs/protocol.md
        §7).  The cheap checks (time, enrolment) come before the signature's."""
        now_ms = int(self.wall_clock() * 1000)
        if abs(t_ms - now_ms) > self.config.max_future_s * 1000:
            raise Rejected('time_range', 'the question is stamped %d s from the centre clock (limit %d s)'
                           % ((t_ms - now_ms) // 1000, self.config.max_future_s))
        gateway = await self.keys.get(gateway_id)
        if gateway is None:
            raise Rejected('unknown_gateway', 'no gateway %s is enrolled at this centre' % gateway_id, gateway=gateway_id)
        if gateway.revoked:
            raise Rejected('revoked_gateway', 'gateway %s was revoked' % gateway_id, gateway=gateway_id)
        message = position_message(gateway_id, t_ms)
        if self._verifier is None:
            valid = gateway.key.verify(message, sig)
        else:
            valid = await asyncio.get_running_loop().run_in_executor(self._verifier, gateway.key.verify, message, sig)
        if not valid:
            raise Rejected('bad_signature', 'the signature does not verify with the key enrolled for %s' % gateway_id,
                           gateway=gateway_id)
        row = await self.db.read(gateways.get_gateway, gateway_id)
        if row is None or row.revoked_at is not None:      # revoked since its key was cached
            self.keys.forget(gateway_id)
            raise Rejected('revoked_gateway', 'gateway %s was revoked' % gateway_id, gateway=gateway_id)
        return {'gateway': gateway_id, 'ack': row.ack, 'last_seq': row.last_seq}

    async def enrolled(self, gateway_id: str, limited: bool) -> CachedGateway:
        """The gateway's enrolled key, after its upload budget: Rejected when over it, unknown or revoked."""
        wait = self.limits.admit_gateway(gateway_id) if limited else 0.0
        if wait:
            self.counters['rejected'] += 1
            raise Rejected('busy', 'more than %g uploads a second naming gateway %s fail their signature; '
                           'retry after %d s' % (self.config.forgeries_per_gateway_s, gateway_id, retry_after(wait)),
                           retry_after=retry_after(wait), gateway=gateway_id)
        gateway = await self.keys.get(gateway_id)
        if gateway is None:
            self.counters['rejected'] += 1
            raise Rejected('unknown_gateway', 'no gateway %s is enrolled at this centre' % gateway_id,
                           gateway=gateway_id)
        if gateway.revoked:
            self.counters['rejected'] += 1
            raise Rejected('revoked_gateway', 'gateway %s was revoked' % gateway_id, gateway=gateway_id)
        return gateway

    async def _verify(self, gateway: CachedGateway, message: bytes, sig: bytes, large: bool) -> bool:
        loop = asyncio.get_running_loop()
        if self._verifier is not None:
            return await loop.run_in_executor(self._verifier, gateway.key.verify, message, sig)
        if large:                      # SM3 over a large body: milliseconds
            return await loop.run_in_executor(self._decoder, gateway.key.verify, message, sig)
        return gateway.key.verify(message, sig)

    async def authenticate(self, gateway_id: str, message: bytes, sig: bytes, limited: bool) -> CachedGateway:
        """The enrolled gateway whose key signed `message` (a frame's body, a health report);
        Rejected otherwise.  A large message is hashed in a thread."""
        gateway = await self.enrolled(gateway_id, limited)
        if not await self._verify(gateway, message, sig, len(message) > DECODE_INLINE_BYTES):
            self._forged(gateway, gateway_id, limited)
            raise Rejected('bad_signature', 'the signature does not verify with the key enrolled for %s'
                           % gateway_id, gateway=gateway_id)
        return gateway

    def _forged(self, gateway: CachedGateway, gateway_id: str, limited: bool) -> None:
        """Count an upload naming this gateway that its key did not sign (in memory, and against
        the gateway's forgery budget when the sender is not exempt)."""
        self.counters['rejected'] += 1
        self._failed(gateway.id, signature=True)
        if limited:
            self.limits.forged(gateway_id)

    async def accept_sealed(self, raw: bytes, limited: bool = True) -> int:
        """Open a sealed frame (docs/protocol.md §10) and accept the frame inside.  Cheapest
        first: the envelope, the gateway's budget and enrolment, the header's signature; an SM2
        decryption only for a session this centre has not seen; the box opened in a thread
        when large."""
        if self.sessions is None:
            raise Rejected('content_type', 'this centre takes no sealed frames (it has no seal_key); send the '
                                           'frame as application/x-msgpack')
        loop = asyncio.get_running_loop()
        try:
            if len(raw) > DECODE_INLINE_BYTES:        # copying out a megabyte box: off the event loop
                sealed = await loop.run_in_executor(self._decoder, Sealed, raw, self.config.max_frame_bytes)
            else:
                sealed = Sealed(raw, self.config.max_frame_bytes)
        except framing.FrameError as e:
            self.counters['rejected'] += 1
            raise Rejected(e.code, e.detail)
        gateway = await self.enrolled(sealed.gateway_id, limited)
        try:
            key = self.sessions.known(sealed)
            if key is None:
                if not await self._verify(gateway, sealed.header, sealed.header_sig, False):
                    self._forged(gateway, sealed.gateway_id, limited)
                    raise Rejected('bad_signature', 'the sealed header\'s signature does not verify with the key '
                                   'enrolled for %s' % sealed.gateway_id, gateway=sealed.gateway_id)
                key = await loop.run_in_executor(self._decoder, self.sessions.unwrap, sealed)
                self.sessions.remember(sealed, key)
            if len(raw) > DECODE_INLINE_BYTES:
                inner = await loop.run_in_executor(self._decoder, open_box, key, sealed.nonce, sealed.box,
                                                   sealed.header)
            else:
                inner = open_box(key, sealed.nonce, sealed.box, sealed.header)
        except framing.FrameError as e:
            self._forged(gateway, sealed.gateway_id, limited)
            raise Rejected(e.code, e.detail, gateway=sealed.gateway_id)
        return await self.accept(inner, limited=False, sealed_by=sealed.gateway_id)

    async def accept(self, raw: bytes, limited: bool = True, sealed_by: str | None = None) -> int:
        """Store one frame and return the gateway's ack, or raise Rejected.  Cheapest first:
        envelope and gateway id, the enrolled key, the signature over the body bytes; only a
        frame that verifies is decoded record by record and its hash tree built, in a
        thread for a large one (docs/server.md "Upload exchange").  `sealed_by`: the gateway
        that sealed it, which must be the frame's."""
        loop = asyncio.get_running_loop()
        large = len(raw) > DECODE_INLINE_BYTES
        try:
            if large:                  # even the cheap look costs milliseconds at a megabyte: off the event loop
                gateway_id, body, sig = await loop.run_in_executor(self._decoder, peek, raw,
                                                                   self.config.max_frame_bytes)
            else:
                gateway_id, body, sig = peek(raw, self.config.max_frame_bytes)
        except framing.FrameError as e:
            self.counters['rejected'] += 1
            raise Rejected(e.code, e.detail, gateway=sealed_by)
        if sealed_by is not None and gateway_id != sealed_by:
            self.counters['rejected'] += 1
            raise Rejected('sealed', 'gateway %s sealed a frame of gateway %s' % (sealed_by, gateway_id),
                           gateway=sealed_by)
        gateway = await self.authenticate(gateway_id, body, sig, limited)
        try:
            if not large:
                frame = framing.decode(raw, self.config.max_frame_bytes, self.config.max_records)
            else:
                frame = await loop.run_in_executor(self._decoder, framing.decode, raw, self.config.max_frame_bytes,
                                                   self.config.max_records)
        except framing.FrameError as e:
            self.counters['rejected'] += 1
            raise Rejected(e.code, e.detail, gateway=gateway_id)
        if frame.gateway_id != gateway_id:
            # a map with "gw" twice: verified under the first, decoded under the last
            self.counters['rejected'] += 1
            raise Rejected('body', 'the body names more than one gateway', gateway=gateway_id)
        try:
            self._check_time(frame)
        except Rejected as e:
            self.counters['rejected'] += 1
            self._failed(gateway.id, signature=False)
            e.gateway = frame.gateway_id
            raise
        n = len(frame.records)
        if self._queued_records and self._queued_records + n > self.config.max_queue_records:
            self.counters['rejected'] += 1
            raise Rejected('busy', 'the centre is catching up with its disk; retry later', retry_after=2,
                           gateway=frame.gateway_id)
        item = frames.Incoming(frame, bytes(raw), frame.fingerprint(), int(self.wall_clock() * 1000))
        future = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        self._queued_records += n
        self._wake.set()
        result: frames.Stored = await future
        if result.error is not None:
            self.keys.forget(frame.gateway_id)
            raise Rejected(result.error, result.detail, gateway=frame.gateway_id)
        return result.ack

    def _take_batch(self) -> list[tuple[frames.Incoming, asyncio.Future]]:
        batch, records = [], 0
        while self._queue and (not batch or records + len(self._queue[0][0].frame.records) <= MAX_BATCH_RECORDS):
            item = self._queue.popleft()
            batch.append(item)
            records += len(item[0].frame.records)
        return batch

    async def _writer(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                batch = self._take_batch()
                n = sum(len(item.frame.records) for item, _ in batch)
                try:
                    results = await self.db.write(frames.store_frames, [item for item, _ in batch])
                except Exception as e:
                    log.error('storing %d frames failed: %s', len(batch), e)
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(Rejected('unavailable', 'the centre cannot store data right now',
                                                          retry_after=5))
                else:
                    self.counters['batches'] += 1
                    for (item, future), result in zip(batch, results):
                        if result.error is None:
                            self.counters['frames'] += 1
                            self.counters['records'] += result.new_records
                            if result.conflicts:
                                self.counters['conflicts'] = self.counters.get('conflicts', 0) + result.conflicts
                                log.warning('ALARM gateway %s sent different content for %d sequence numbers it had '
                                            'already delivered (frame %d..%d, %s): it reuses sequence numbers (a '
                                            'wiped data directory?); the values first received are kept',
                                            item.frame.gateway_id, result.conflicts, item.frame.seq_first,
                                            item.frame.seq_last, item.fingerprint.hex()[:16])
                        for x in result.interleaved:
                            log.warning('ALARM gateway %s: code %s fell at %d of %d steps between %s and %s in frame '
                                        '%d..%d: two meters under one code? its readings cannot be used as one '
                                        'register; check the gateway\'s configuration', item.frame.gateway_id,
                                        x.code, x.drops, x.steps, '%.6g' % x.low, '%.6g' % x.high,
                                        item.frame.seq_first, item.frame.seq_last)
                        if not future.done():
                            future.set_result(result)
                    for event in self._listeners:
                        event.set()
                finally:
                    self._queued_records -= n
