"""Changing where the gateway is reached, without locking the engineer out (issue 15,
item 4): the page's address (`[web] listen`) and the maintenance interface (`[network]`,
applied by the board's command) change with confirm-or-revert.  The new settings are
applied and the page listens on the new address as well as the old one; the change is
kept only when someone confirms it from the new address within confirm_s.  Otherwise
the old settings come back by themselves and the new listener closes: a wrong address
costs a wait, never a trip to the cabinet with a serial cable."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Callable

from aiohttp import web

from firmware.settings import GatewayConfigError
from firmware.versions import check

log = logging.getLogger('tanji.config')

APPLY_TIMEOUT_S = 30.0
DEFAULT_CONFIRM_S = 120.0
CALLER_APPLIES = frozenset({'web', 'network'})


class Listener:
    """The page's sites: one per address it listens on."""

    def __init__(self, runner: web.AppRunner) -> None:
        self.runner = runner
        self.sites: dict[tuple[str, int], web.TCPSite] = {}

    async def add(self, host: str, port: int) -> None:
        site = web.TCPSite(self.runner, host, port)
        await site.start()
        self.sites[(host, port)] = site

    async def remove(self, host: str, port: int) -> None:
        site = self.sites.pop((host, port), None)
        if site is not None:
            await site.stop()


async def run_apply(command: str, settings: dict) -> None:
    """The board's command with the interface settings as JSON on stdin; GatewayConfigError
    with what it said when it fails."""
    try:
        proc = await asyncio.create_subprocess_exec(command, stdin=asyncio.subprocess.PIPE,
                                                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(json.dumps(settings).encode()), APPLY_TIMEOUT_S)
    except asyncio.TimeoutError:
        proc.kill()
        raise GatewayConfigError('network.apply: %s did not finish within %.0f s' % (command, APPLY_TIMEOUT_S))
    except OSError as e:
        raise GatewayConfigError('network.apply: cannot run %s: %s' % (command, e.strerror or e))
    if proc.returncode != 0:
        said = (err or out).decode('utf-8', 'replace').strip()[-500:]
        raise GatewayConfigError('network.apply: %s refused the settings (exit %d): %s'
                                 % (command, proc.returncode, said or 'no message'))


class NetworkChanges:
    def __init__(self, gateway, listener: Listener,   # type: ignore[no-untyped-def]
                 audit: Callable[[str, str, dict], None] = lambda who, action, detail: None) -> None:
        self.gateway = gateway
        self.listener = listener
        self.audit = audit
        self.pending: dict | None = None
        self._timer: asyncio.Task | None = None

    @property
    def reconfigurer(self):   # type: ignore[no-untyped-def]
        return self.gateway.reconfigurer

    def status(self) -> dict | None:
        if self.pending is None:
            return None
        return dict(self.pending, left_s=max(0.0, self.pending['deadline'] - time.monotonic()))

    async def propose(self, text: str, who: str, why: str) -> dict:
        """Apply the new address and interface settings and listen on the new address too; kept
        only when confirmed from there.  GatewayConfigError naming the setting, nothing changed."""
        if self.pending is not None:
            raise GatewayConfigError('a change of the network waits for confirmation from %s:%d; confirm it there '
                                     'or let it go back first' % tuple(self.pending['new']))
        old_cfg = self.gateway.cfg
        new_cfg = check(text, old_cfg)
        if new_cfg.web is None:
            raise GatewayConfigError('web.listen: the page cannot be switched off from the page itself')
        old, new = (old_cfg.web.host, old_cfg.web.port), (new_cfg.web.host, new_cfg.web.port)
        settings_changed = (old_cfg.network.as_applied() if old_cfg.network else None) != \
            (new_cfg.network.as_applied() if new_cfg.network else None)
        if settings_changed and new_cfg.network is not None:
            try:
                await run_apply(new_cfg.network.apply, new_cfg.network.as_applied())
            except GatewayConfigError as e:
                log.warning('network change by %s refused, nothing changed: %s', who, e)
                raise
        try:
            if new != old:
                await self.listener.add(*new)
        except OSError as e:
            await self._put_back_interface(old_cfg, new_cfg)
            raise GatewayConfigError('web.listen: cannot listen on %s:%d: %s' % (new + (e.strerror or e,)))
        previous = self.reconfigurer.running
        try:
            version, _ = await self.reconfigurer.apply(text, who, why, 'page', CALLER_APPLIES)
        except GatewayConfigError:
            if new != old:
                await self.listener.remove(*new)
            await self._put_back_interface(old_cfg, new_cfg)
            raise
        confirm_s = new_cfg.network.confirm_s if new_cfg.network else DEFAULT_CONFIRM_S
        self.pending = {'version': version.number, 'previous': previous.number if previous else None,
                        'old': list(old), 'new': list(new), 'who': who, 'confirm_s': confirm_s,
                        'deadline': time.monotonic() + confirm_s, 'interface_changed': settings_changed}
        self._timer = asyncio.create_task(self._expire(confirm_s), name='tanji-network-confirm')
        log.warning('network change by %s (version %d): the page listens on %s:%d too; confirm from there within '
                    '%.0f s or it goes back', who, version.number, new[0], new[1], confirm_s)
        self.audit(who, 'network.propose', {'version': version.number, 'old': list(old), 'new': list(new),
                                            'interface_changed': settings_changed})
        return self.pending

    async def _put_back_interface(self, old_cfg, new_cfg) -> None:   # type: ignore[no-untyped-def]
        if old_cfg.network is not None and new_cfg.network is not None and \
                old_cfg.network.as_applied() != new_cfg.network.as_applied():
            try:
                await run_apply(old_cfg.network.apply, old_cfg.network.as_applied())
            except GatewayConfigError as e:
                log.error('ALARM the interface settings could not be put back: %s', e)

    def reached_by_new_address(self, request: web.Request) -> bool:
        sock = request.transport.get_extra_info('sockname') if request.transport else None
        return bool(self.pending and sock and [sock[0], sock[1]] == self.pending['new'])

    async def confirm(self, who: str) -> None:
        pending, self.pending = self.pending, None
        if pending is None:
            return
        if self._timer is not None:
            self._timer.cancel()
        if pending['old'] != pending['new']:
            await self.listener.remove(*pending['old'])
        log.info('network change confirmed by %s from %s:%d (version %d)', who, *pending['new'], pending['version'])
        self.audit(who, 'network.confirm', {'version': pending['version'], 'address': pending['new']})

    async def _expire(self, after_s: float) -> None:
        await asyncio.sleep(after_s)
        pending, self.pending = self.pending, None
        if pending is None:
            return
        previous = self.reconfigurer.versions.get(pending['previous']) if pending['previous'] else None
        reason = 'not confirmed from %s:%d within %.0f s' % (pending['new'][0], pending['new'][1], pending['confirm_s'])
        if previous is not None:
            try:
                version, _ = await self.reconfigurer.apply(previous.text, 'gateway', 'revert of the network change '
                                                           '(version %d): %s' % (pending['version'], reason), 'revert',
                                                           CALLER_APPLIES)
            except GatewayConfigError as e:
                log.error('ALARM the network change (version %d) cannot be put back: %s', pending['version'], e)
                return
            if pending['interface_changed'] and self.gateway.cfg.network is not None:
                try:
                    await run_apply(self.gateway.cfg.network.apply, self.gateway.cfg.network.as_applied())
                except GatewayConfigError as e:
                    log.error('ALARM the interface settings could not be put back: %s', e)
        if pending['old'] != pending['new']:
            await self.listener.remove(*pending['new'])
        log.warning('ALARM network change (version %d) put back: %s; the page is on %s:%d again', pending['version'],
                    reason, *pending['old'])
        self.audit('gateway', 'network.revert', {'version': pending['version'], 'reason': reason})
