"""Remote configuration (seed 001 §10.6.3; docs/protocol.md §12): the platform offers a
configuration an admin staged there in its answer to the gateway's health report (the
gateway sits behind NAT: it asks, nobody calls it).  The gateway verifies the platform's
signature with the key it was given, checks the configuration by the same path as the
local page (firmware/versions.py) and applies it as a version from the platform; then it
keeps it on probation until a health report reaches the platform again.  If none does
within revert_after_s, the configuration cut the gateway off (a wrong address, a wrong
certificate pin): the previous version comes back by itself.  Each outcome — refused with
the reason, on probation, applied, reverted — goes to the platform in the following
reports and into the gateway's audit log; the probation survives a restart.

    [remote]
    key = "/etc/tanji/platform-config.pub"   # the platform's configuration key (SM2 public, PEM)
    revert_after_s = 900                     # no report delivered this long after applying: revert
"""

from __future__ import annotations

import asyncio
import binascii
import json
import logging
import os
from typing import Callable

from firmware.lib.durable import replace_file
from firmware.settings import GatewayConfigError
from shared.codec import sm2

log = logging.getLogger('tanji.config')

WATCH_S = 1.0


class RemoteConfig:
    def __init__(self, gateway, reconfigurer, key: sm2.PublicKey, revert_after_s: float,   # type: ignore[no-untyped-def]
                 audit: Callable[[str, str, dict], None] = lambda who, action, detail: None) -> None:
        self.gateway = gateway
        self.reconfigurer = reconfigurer
        self.key = key
        self.revert_after_s = revert_after_s
        self.audit = audit
        self.path = os.path.join(gateway.cfg.data_dir, 'config', 'remote.json')
        self.state = {'done': 0, 'probation': None, 'last': None}
        try:
            with open(self.path, encoding='utf-8') as f:
                self.state.update(json.load(f))
        except FileNotFoundError:
            pass
        except (OSError, ValueError) as e:
            log.warning('ALARM %s cannot be read (%s): a remote configuration on probation, if any, is confirmed '
                        'as it runs', self.path, e)

    def _save(self) -> None:
        replace_file(self.path, json.dumps(self.state))

    def _outcome(self, number: int, state: str, reason: str | None, version: int | None) -> None:
        self.state['last'] = {'number': number, 'state': state, 'reason': reason, 'version': version}
        self._save()
        self.audit('platform', 'config.remote.%s' % state, {'number': number, 'reason': reason, 'version': version})

    def report(self) -> dict | None:
        """What the next health report says of the latest remote configuration."""
        return self.state['last']

    def _verified(self, offer: dict) -> dict:
        """The staged configuration if the platform signed it for this gateway; ValueError why not."""
        body, signature = offer.get('body'), offer.get('signature')
        if not isinstance(body, str) or not isinstance(signature, str):
            raise ValueError('the offer is not {"body", "signature"}')
        try:
            sig = binascii.unhexlify(signature)
        except (binascii.Error, ValueError):
            raise ValueError('the signature is not hex')
        if len(sig) != 64 or not self.key.verify(body.encode('utf-8'), sig):
            raise ValueError('the signature does not verify with the platform\'s configuration key')
        doc = json.loads(body)
        if doc.get('gateway') != self.gateway.cfg.id:
            raise ValueError('it is staged for gateway %r, not this one' % doc.get('gateway'))
        if not isinstance(doc.get('number'), int) or not isinstance(doc.get('toml'), str):
            raise ValueError('it has no number or no configuration')
        return doc

    async def offered(self, offer: dict) -> None:
        """A configuration the platform offers: verify, check, apply (or refuse), start its probation."""
        try:
            doc = self._verified(offer)
        except ValueError as e:
            number = _untrusted_number(offer)
            log.warning('ALARM remote configuration #%s refused: %s', number, e)
            if number is not None and (self.state['last'] or {}).get('number') != number:
                self._outcome(number, 'refused', str(e), None)     # said, but an unsigned number moves nothing on
            return
        number = doc['number']
        if number <= self.state['done'] or self.state['probation'] is not None:
            return
        who = 'platform:%s' % doc.get('staged_by', '?')
        why = 'platform configuration #%d: %s' % (number, doc.get('why') or '(no reason given)')
        previous = self.reconfigurer.running
        try:
            version, live = await self.reconfigurer.apply(doc['toml'], who, why, 'platform')
        except GatewayConfigError as e:
            self.state['done'] = number
            log.warning('ALARM remote configuration #%d from %s refused: %s', number, who, e)
            self._outcome(number, 'refused', str(e), None)
            return
        self.state['done'] = number
        self.state['probation'] = {'number': number, 'version': version.number,
                                   'previous': previous.number if previous else None,
                                   'applied_at': self.gateway.clock.now(),
                                   'deadline': self.gateway.clock.now() + self.revert_after_s}
        log.warning('remote configuration #%d applied as version %d%s; on probation until a health report reaches '
                    'the platform (else reverted after %.0f s)', number, version.number,
                    '' if live else ' (restarting the gateway for it)', self.revert_after_s)
        self._outcome(number, 'on_probation', None, version.number)
        if not live:
            self.reconfigurer.request_restart('platform (configuration #%d)' % number)

    def delivered(self, sent_at: float) -> None:
        """A health report made at `sent_at` reached the platform: a configuration applied before it
        is confirmed."""
        probation = self.state['probation']
        running = self.reconfigurer.running
        if probation is None or sent_at < probation['applied_at'] or running is None or \
                running.number != probation['version']:       # a restart it waits for has not happened yet
            return
        self.state['probation'] = None
        log.info('remote configuration #%d confirmed: the gateway reaches its platform with it', probation['number'])
        self._outcome(probation['number'], 'applied', None, probation['version'])

    async def watch(self) -> None:
        while True:
            await asyncio.sleep(WATCH_S)
            probation = self.state['probation']
            if probation is not None and self.gateway.clock.now() >= probation['deadline']:
                await self._revert(probation)

    async def _revert(self, probation: dict) -> None:
        self.state['probation'] = None
        reason = ('no health report reached the platform within %.0f s of applying it' % self.revert_after_s)
        previous = self.reconfigurer.versions.get(probation['previous']) if probation['previous'] else None
        if previous is None:
            log.warning('ALARM remote configuration #%d cut the gateway off from its platform, and there is no '
                        'earlier version to go back to', probation['number'])
            self._outcome(probation['number'], 'reverted', reason + '; no earlier version: kept', None)
            return
        try:
            version, live = await self.reconfigurer.apply(
                previous.text, 'gateway', 'revert of platform configuration #%d: %s' % (probation['number'], reason),
                'revert')
        except GatewayConfigError as e:
            log.warning('ALARM remote configuration #%d cannot be reverted to version %d: %s', probation['number'],
                        previous.number, e)
            self._outcome(probation['number'], 'reverted', '%s; the revert failed: %s' % (reason, e), None)
            return
        log.warning('ALARM remote configuration #%d reverted to version %d as version %d: %s', probation['number'],
                    previous.number, version.number, reason)
        self._outcome(probation['number'], 'reverted', reason, version.number)
        if not live:
            self.reconfigurer.request_restart('gateway (reverting configuration #%d)' % probation['number'])


def _untrusted_number(offer: dict) -> int | None:
    try:
        number = json.loads(offer.get('body', ''))['number']
    except (ValueError, TypeError, KeyError):
        return None
    return number if isinstance(number, int) and not isinstance(number, bool) else None
