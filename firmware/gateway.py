"""The gateway's storage-and-delivery process (CPython, asyncio).

Readings go into the ring log (firmware/lib/ring.py) and become durable by group
commit within commit_interval_ms.  Each centre has its own task driving its
Delivery (shared/delivery/machine.py) over HTTP; a slow or dead centre only
delays itself.  Cursors and loss counters are saved in the state file
(firmware/lib/state.py) and the ring is told the lowest cursor (`floor`), below
which it may recycle without loss.  Losses (thinned, dropped, refused readings)
raise an ALARM log line and are counted, never silent.

Faults (docs/gateway.md "Faults"): damage the ring or the state file finds is an
ALARM naming the file, the numbers and the cause, and a counter; a write that
fails (a full disk) keeps the readings queued in memory up to the head segment's
room, retries with backoff, and declares what it had to drop ('disk_full'); the
state file carries the durable high-water mark, so a sequence number is never
handed out twice whatever recovery finds.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path

import aiohttp

from firmware.clock import JumpDetector, RealClock
from firmware import identity, summary
from firmware.config import GatewayConfig, centre_seal_point
from firmware.history import History
from firmware.lib import outbox, thinning
from firmware.lib import reading as reading_codec
from firmware.lib.reading import Reading
from firmware.lib.ring import RingFull, RingLog
from firmware.lib.state import StateFile
from shared import seal, tls
from shared.aio import cancel_and_wait, wait_for
from shared.codec import sm2
from shared.codec.flags import FLAG_CALIBRATION
from shared.delivery import machine as delivery
from shared.delivery.backoff import Backoff
from shared.delivery.http import ask_position, post_frame
from shared.version import tanji_version

log = logging.getLogger('tanji.gateway')

STATE_SAVE_INTERVAL_S = 0.5
CLOCK_CHECK_S = 0.5


class Gateway:
    def __init__(self, cfg: GatewayConfig, clock=None, report_durable: str | None = None,
                 backoff_base_s: float = 1.0, backoff_cap_s: float = 300.0) -> None:
        self.cfg = cfg
        self.clock = clock or RealClock()
        Path(cfg.data_dir).mkdir(parents=True, exist_ok=True)
        self.key = sm2.PrivateKey.load(Path(cfg.key).read_bytes())
        note = identity.check(cfg.data_dir, cfg.id, self.key.public_key.fingerprint())
        if note is not None:
            log.info(note)
        self.state = StateFile(os.path.join(cfg.data_dir, 'state'))
        saved = self.state.data
        self.counters: dict[str, int] = dict(saved.get('counters', {}))
        self._state_dirty = False
        self.disk_error: str | None = None       # the failing write's error while the disk refuses writes
        self._disk_backoff = Backoff(0.5, 30.0)
        self.ring = RingLog(cfg.data_dir, cfg.segment_size, cfg.segment_count, cfg.policy,
                            thinning.rule(int(cfg.utc_offset_h * 3600)), self._on_loss, self._on_damage,
                            saved.get('seq_hwm', -1) + 1, saved.get('declared'))
        self._check_state()
        # why the gateway was not running before this start: None for a new gateway
        self.restart_cause = None if not self.state.existed else \
            'restart' if saved.get('clean_stop') else 'power cut'
        cursors = saved.get('cursors', {})
        self.deliveries: dict[str, delivery.Delivery] = {}
        self.centres = {c.name: c for c in cfg.centres}
        self.history = History()                # the last hours of each code, for the page's charts
        self.tally = self.emissions = None      # live accounting (firmware/bindings.py): the page's emissions
        self.set_accounting(cfg.accounting)
        self.sealers = {c.name: seal.Sealer(cfg.id, self.key.sign, point) for c in cfg.centres
                        if (point := centre_seal_point(c)) is not None}
        self.readers = {}
        for c in cfg.centres:
            reader = self.ring.reader(cursors.get(c.name, -1) + 1)
            self.readers[c.name] = reader
            schedule = delivery.Schedule(c.every_s, c.times, int(cfg.utc_offset_h * 3600))
            self.deliveries[c.name] = delivery.Delivery(
                c.name, cursors.get(c.name, -1), self._builder(reader), schedule, c.max_records, c.max_bytes,
                c.rate_bytes_s, Backoff(backoff_base_s, backoff_cap_s), on_alarm=self._on_alarm)
        self._update_floor()
        self._new_data = {name: asyncio.Event() for name in self.deliveries}
        self._durable = asyncio.Event()
        self.sources = None                     # firmware.sources.Acquisition, when meters are configured
        self.reconfigurer = None                # firmware.reconfigure.Reconfigurer, in `tanji gateway run`
        self.remote = None                      # firmware.remote.RemoteConfig, with [remote]
        self.calibration_overdue: frozenset[int] = frozenset()   # codes of meters past calibration (firmware/ledger.py)
        self.ledger = self.calibration = None   # firmware.ledger.Ledger and CalibrationWatch, in `tanji gateway run`
        self.network = None                     # firmware.network.NetworkChanges, with the page
        self._report = open(report_durable, 'a') if report_durable else None
        self._tasks: list[asyncio.Task] = []
        self.delivered_at: dict[str, list[tuple[int, float]]] = {name: [] for name in self.deliveries}
        self.uploads: dict[str, list[tuple[str, float, int]]] = {name: [] for name in self.deliveries}

    # -- readings ------------------------------------------------------------------

    def add_reading(self, r: Reading) -> int | None:
        """Log a reading; its sequence number, or None when the ring refuses it (policy 'stop'
        with the ring full).  When the disk refuses the write that would make room, the
        reading's number is declared lost ('disk_full') and counted."""
        seq = self.ring.next_seq
        if self.calibration_overdue and int(r.code) in self.calibration_overdue:
            r = r._replace(flags=r.flags | FLAG_CALIBRATION)
        self.history.add(int(r.code), r.ts_ms, r.value, r.exp, r.unit)
        if self.tally is not None:
            self.tally.add(int(r.code), r.ts_ms, r.value, r.exp, r.flags, r.unit)
        try:
            self.ring.append(r.pack())
        except RingFull:
            self._count('refused')
            return None
        except OSError as e:
            self._disk_failed(e)
            self.ring.skip(1, 'disk_full')
            self._count('disk_full')
        return seq

    @property
    def next_seq(self) -> int:
        return self.ring.next_seq

    @property
    def durable_seq(self) -> int:
        return self.ring.durable_seq

    async def wait_durable(self, seq: int) -> None:
        """Return once reading `seq` is durable (at the next group commit)."""
        while self.ring.durable_seq < seq:
            await self._durable.wait()

    def commit(self) -> int:
        """Make the queued readings durable; raises OSError when the disk refuses (they stay queued)."""
        durable = self.ring.commit()
        self._state_dirty = True                # the high-water mark moved
        self._durable.set()
        self._durable = asyncio.Event()
        if self._report is not None:
            self._report.write('%d\n' % durable)
            self._report.flush()
        for event in self._new_data.values():
            event.set()
        return durable

    # -- losses, faults and alarms ---------------------------------------------------

    def _count(self, name: str, n: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + n
        self._state_dirty = True

    def _on_loss(self, kind: str, first: int, last: int, count: int) -> None:
        self._count(kind, count)
        log.warning('ALARM ring full: %s %d readings in %d..%d (policy %s)', kind, count, first, last, self.cfg.policy)

    def _on_damage(self, path: str, first: int, last: int, lost: int, what: str) -> None:
        self._count('damage')
        self._count('corrupt', lost)
        if lost:
            numbers = 'seq %d..%d: %d readings lost, declared lost (corrupt)' % (first, last, lost)
        else:
            numbers = 'at seq %d: nothing lost' % first if first >= 0 else 'no readable sequence numbers'
        log.warning('ALARM damaged file %s: %s; %s', path, what, numbers)

    def _check_state(self) -> None:
        """Report a state file that could not be used; the cursors then start at the oldest
        reading the ring holds, and each centre's ack moves them to where it is."""
        problem = self.state.problem
        if problem is None and not self.state.existed and self.ring.durable_seq >= 0:
            problem = 'the state file %s is missing but the log holds readings' % self.state.path
        if problem is not None:
            self._count('state_rebuilt')
            log.warning('ALARM %s: state rebuilt: cursors restart at the oldest reading in the log (seq %d; the '
                        'centres\' acks move them on, nothing is lost), loss counters restart at 0, sequence numbers '
                        'continue after %d', problem, self.ring.oldest_seq(), self.ring.next_seq - 1)
        elif self.state.torn_slot:
            self._count('state_copy_unreadable')
            log.warning('state file %s: one of its two copies is unreadable (a save cut short by a power cut, or '
                        'damage); the other, previous copy is used and the next save replaces it', self.state.path)

    def _disk_failed(self, e: OSError) -> None:
        if self.disk_error is None:
            self._count('disk_errors')
            log.warning('ALARM cannot write the log in %s: %s; readings are kept in memory (%d queued) and the '
                        'write is retried; free space on that filesystem', self.cfg.data_dir, e.strerror or e,
                        self.ring.pending())
        self.disk_error = str(e.strerror or e)

    def _disk_recovered(self) -> None:
        log.warning('RECOVERED the log in %s is writable again; durable up to %d (%d readings declared lost as '
                    'disk_full so far)', self.cfg.data_dir, self.ring.durable_seq, self.counters.get('disk_full', 0))
        self.disk_error = None
        self._disk_backoff.success()

    def _on_alarm(self, centre: str, kind: str, detail: str) -> None:
        if kind == 'recovered':
            log.warning('RECOVERED centre %s: %s', centre, detail)
            return
        self._count('%s_%s' % (kind, centre))
        log.warning('ALARM centre %s: %s: %s', centre, kind, detail)

    # -- state -----------------------------------------------------------------------

    def _update_floor(self) -> None:
        self.ring.floor = min(d.cursor for d in self.deliveries.values())

    def save_state(self, clean_stop: bool = False) -> None:
        self.state.save({'cursors': {n: d.cursor for n, d in self.deliveries.items()}, 'counters': self.counters,
                         'seq_hwm': self.ring.durable_seq, 'declared': [list(d) for d in self.ring.declared],
                         'clean_stop': clean_stop})
        self._state_dirty = False

    def recent_readings(self, codes):
        """The durable readings of these codes (12-digit text) as Records, oldest first, as far
        as the last two segments of the log reach (what a restart needs to carry on from)."""
        want = set(codes)
        reader = self.ring.reader(self.ring.recent_seq(2))
        while True:
            pairs = reader.read(10_000)
            if not pairs:
                return
            for seq, payload in pairs:
                try:
                    rec, _ = reading_codec.unpack(seq, payload)
                except (ValueError, TypeError):
                    continue
                if rec.code in want and rec.ts_ms is not None:
                    yield rec

    def _builder(self, reader):
        def build(first_seq: int, max_records: int, max_bytes: int):
            return outbox.build(reader, self.cfg.id, self.key.sign, first_seq, max_records, max_bytes)
        return build

    # -- tasks -------------------------------------------------------------------------

    async def _commit_loop(self) -> None:
        interval = self.cfg.commit_interval_ms / 1000.0
        while True:
            await asyncio.sleep(self.clock.real_seconds(interval))
            if not self.ring.pending() and self.disk_error is None:
                continue
            try:
                self.commit()
            except OSError as e:
                self._disk_failed(e)
                await asyncio.sleep(self._disk_backoff.failure())
                continue
            if self.disk_error is not None:
                self._disk_recovered()

    async def _state_loop(self) -> None:
        while True:
            await asyncio.sleep(STATE_SAVE_INTERVAL_S)
            if self._state_dirty:
                try:
                    self.save_state()
                except OSError as e:
                    self._disk_failed(e)

    async def _centre_loop(self, name: str) -> None:
        d = self.deliveries[name]
        event = self._new_data[name]
        c = self.centres[name]
        async with tls.session(30, c.ca_file, c.pin_sha256) as session:
            while True:
                try:
                    await self._centre_step(name, d, event, session)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    # a fault of ours (a log file unreadable, say) must not end this centre's deliveries
                    log.exception('ALARM centre %s: delivery step failed; retrying in 5 s', name)
                    await asyncio.sleep(5)

    async def _centre_step(self, name: str, d: delivery.Delivery, event: asyncio.Event,
                           session: aiohttp.ClientSession) -> None:
        """One step of a centre's delivery: wait as told, or send one frame and apply the answer."""
        now = self.clock.monotonic()
        was_draining = d.draining
        action, arg = d.step(now, self.ring.durable_seq, self.clock.now())
        if d.draining != was_draining:
            # upload history for status and tests: (start time, durable at start) / (end time, cursor at end)
            self.uploads[name].append(('start' if d.draining else 'end', self.clock.now(),
                                       self.ring.durable_seq if d.draining else d.cursor))
            if len(self.uploads[name]) > 10_000:
                del self.uploads[name][:5_000]
        if action == 'wait':
            event.clear()
            timeout = None if arg is None else self.clock.real_seconds(arg - now)
            try:
                await wait_for(event.wait(), timeout)
            except asyncio.TimeoutError:
                pass
            return
        sealer = self.sealers.get(name)
        if sealer is None:
            outcome = await post_frame(session, self.centres[name].url, arg.data)
        else:
            outcome = await post_frame(session, self.centres[name].url, sealer.seal(arg.data), seal.CONTENT_TYPE)
        moved = d.on_outcome(outcome, self.clock.monotonic())
        if moved is not None:
            self.delivered_at[name].append((moved, self.clock.now()))
            if len(self.delivered_at[name]) > 100_000:
                del self.delivered_at[name][:50_000]
            self._update_floor()
            self._state_dirty = True

    async def _clock_loop(self) -> None:
        """Notice a step of the wall clock (set by hand, NTP returning): one alarm, and every
        schedule that follows the wall clock is worked out again, so nothing stalls."""
        detector = JumpDetector(self.clock)
        while True:
            await asyncio.sleep(CLOCK_CHECK_S)
            delta = detector.check()
            if delta:
                self.clock_jumped(delta)

    def clock_jumped(self, delta: float) -> None:
        self._count('clock_jumps')
        log.warning('ALARM the wall clock jumped %+.1f s (now %s): uploads and polling follow the new time; the '
                    'first reading of each point after the jump is flagged clock', delta,
                    time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(self.clock.now())))
        for name, d in self.deliveries.items():
            d.clock_jumped()
            self._new_data[name].set()
        if self.sources is not None:
            self.sources.clock_jumped()

    def send_now(self, centre: str | None = None) -> None:
        """Manual upload to one centre or all (seed 001 §7.5)."""
        for name, d in self.deliveries.items():
            if centre in (None, name):
                d.send_now()
                self._new_data[name].set()

    async def find_position(self, timeout_s: float = 5.0) -> None:
        """A data directory with no log and no state is a new gateway or a reinstalled one;
        only the centres know which.  Ask each (a signed question) how far this gateway's
        sequence numbers go there, and continue after the highest, so no number is used
        twice; a centre that holds fewer is told the rest were lost with the old log."""
        if self.state.existed or self.ring.durable_seq >= 0 or self.ring.next_seq > 0:
            return
        answers: dict[str, dict] = {}
        for name, c in self.centres.items():
            async with tls.session(timeout_s, c.ca_file, c.pin_sha256) as session:
                pos = await ask_position(session, c.url, self.cfg.id, self.key.sign, int(self.clock.now() * 1000))
            if pos is not None:
                answers[name] = pos
        if not answers:
            if self.centres:
                log.warning('ALARM a new data directory and no centre answered where gateway %s\'s sequence '
                            'numbers stand: numbering starts at 0; if this gateway delivered before, the centres '
                            'will report reused numbers: stop it and start it again when a centre can be reached',
                            self.cfg.id)
            return
        top = max(a['last_seq'] for a in answers.values())
        if top < 0:
            log.info('gateway %s is new: no centre holds any of its readings', self.cfg.id)
            return
        self.ring.start_at(top + 1)
        for name, d in self.deliveries.items():
            d.cursor = answers[name]['ack'] if name in answers else -1
        lowest = min(d.cursor for d in self.deliveries.values())
        if lowest < top:
            self.ring.declared.append((lowest + 1, top, 'wiped'))
        self._update_floor()
        self.save_state()
        log.warning('ALARM a new data directory for gateway %s, but %s hold its sequence numbers up to %d (a '
                    'reinstall?): numbering continues at %d; readings a centre had not yet received from the old '
                    'log are declared lost (wiped)', self.cfg.id,
                    ', '.join('%s (ack %d)' % (n, a['ack']) for n, a in sorted(answers.items())), top, top + 1)

    async def start(self) -> None:
        await self.find_position()
        self._tasks = [asyncio.create_task(self._commit_loop(), name='tanji-commit'),
                       asyncio.create_task(self._state_loop(), name='tanji-state'),
                       asyncio.create_task(self._clock_loop(), name='tanji-clock')]
        self._tasks += [asyncio.create_task(self._centre_loop(n), name='tanji-centre-%s' % n) for n in self.deliveries]

    @property
    def tasks(self) -> list[asyncio.Task]:
        return list(self._tasks)

    async def stop(self, timeout: float | None = None) -> list[asyncio.Task]:
        """Stop delivering and make everything durable; returns the tasks that had not ended
        within timeout (the owner exits without them: what is durable is saved)."""
        stuck = await cancel_and_wait(self._tasks, timeout)
        self.close()
        return stuck

    def set_accounting(self, sections: dict | None) -> None:
        """Start, replace or stop the live emissions; the tally of readings is kept across a change."""
        if sections is None:
            self.emissions = None
            return
        from firmware.emissions import LiveEmissions
        from firmware.tally import Tally
        offset = int(self.cfg.utc_offset_h * 3600)
        if self.tally is None:
            self.tally = Tally(offset, os.path.join(self.cfg.data_dir, 'tally.json'))
        self.emissions = LiveEmissions(self.cfg.id, sections, self.tally, offset)

    def tally_snapshot(self) -> str | None:
        if self.tally is None:
            return None
        self.tally.prune(int(self.clock.now() * 1000))
        return self.tally.snapshot()

    def write_tally(self, text: str | None) -> None:
        """Save the live accounting's tally; a failed write is one log line (the page's figures
        restart from the next readings after a restart, nothing else is lost)."""
        if text is None:
            return
        try:
            self.tally.write(text)
        except OSError as e:
            self.tally.dirty = True
            log.warning('cannot save the live accounting tally: %s', e.strerror or e)

    def close(self) -> None:
        """Commit what is queued, save the state and close the log."""
        self.write_tally(self.tally_snapshot())
        try:
            self.commit()
            self.save_state(clean_stop=True)
        except OSError as e:
            log.warning('ALARM stopping with the disk refusing writes (%s): %d readings that were not yet durable '
                        'are lost', e.strerror or e, self.ring.pending())
        self.ring.close()
        if self._report is not None:
            self._report.close()

    def status(self) -> dict:
        now = self.clock.monotonic()
        status = {'gateway': self.cfg.id, 'version': tanji_version(), 'durable_seq': self.ring.durable_seq,
                  'oldest_seq': self.ring.oldest_seq(), 'queued': self.ring.pending(), 'disk_error': self.disk_error,
                  'counters': dict(self.counters), 'centres': [d.status(now) for d in self.deliveries.values()],
                  'sources': self.sources.status() if self.sources else [], 'time': self.clock.now(),
                  'config': self.reconfigurer.status() if self.reconfigurer else None,
                  'calibration_overdue': dict(self.calibration.overdue) if self.calibration else {},
                  'network_pending': self.network.status() if self.network else None}
        status['alarms'] = summary.alarms(status)
        return status
