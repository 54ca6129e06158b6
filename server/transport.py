"""The HTTP server under the application: aiohttp's, with two changes.  Each address's
connections are counted and those beyond its share answered 429 before their request is
read, and those of an address refused too often held unanswered until its budget
refills (server/limits.py).  A request aiohttp itself cannot parse (a control byte in a
header, a broken request line) is answered like every other refusal, a 400 with
{"error", "detail"}, and logged as one line, not as a traceback."""

from __future__ import annotations

import asyncio
import json

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from server.limits import Limits
from server.refusals import RefusalLog


def _address(transport: asyncio.BaseTransport) -> str:
    peer = transport.get_extra_info('peername')
    return peer[0] if isinstance(peer, tuple) and peer else str(peer)


TOO_MANY_CONNECTIONS = (b'HTTP/1.1 429 Too Many Requests\r\nRetry-After: %d\r\nConnection: close\r\n'
                        b'Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s')


HOLD_MAX_S = 10.0        # the longest a connection from a spent address is held before its 429


class JSONErrors(RequestHandler):
    """aiohttp's request handler, answering the requests it refuses itself in Tanji's form:
    logged in the refusal log (once per address, then counted) and charged to the address's
    refusal budget like any other refusal."""

    limits: Limits
    refusals: RefusalLog

    def handle_error(self, request, status: int = 500, exc: BaseException | None = None,   # type: ignore[override]
                     message: str | None = None) -> web.StreamResponse:
        if status >= 500:
            return super().handle_error(request, status, exc, message)
        if request.writer.output_size > 0:
            raise ConnectionError('the answer was begun already; the connection is dropped')
        detail = 'the request is not valid HTTP: %s' % (getattr(exc, 'message', None) or message or exc or status)
        address = str(request.remote)
        self.refusals.note(status, 'bad_request', address, detail[:200])     # once per address, then counted
        self.limits.refused(address)
        response = web.Response(status=status, content_type='application/json',
                                text=json.dumps({'error': 'bad_request', 'detail': detail}))
        response.force_close()
        return response


class LimitedServer(web.Server):
    """aiohttp's connection manager with JSONErrors handlers, turning away an address's
    connections beyond its share with a 429 written before the request is read."""

    def __init__(self, *args, limits: Limits, refusals: RefusalLog, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.limits = limits
        self.refusals = refusals
        self._counted: dict[object, str] = {}

    def __call__(self) -> RequestHandler:
        handler = JSONErrors(self, loop=self._loop, **self._kwargs)
        handler.limits, handler.refusals = self.limits, self.refusals
        return handler

    def connection_made(self, handler, transport) -> None:   # type: ignore[no-untyped-def]
        super().connection_made(handler, transport)
        address = _address(transport)
        if not self.limits.connection_opened(address):
            self._turn_away(transport, 1, b'this address holds %d connections already, the most one address '
                                          b'may hold; reuse one' % self.limits.connections_per_address)
            return
        self._counted[handler] = address
        wait = self.limits.spent(address)
        if wait:
            # held unread and unanswered until its budget refills: a sender that keeps being refused
            # is slowed to the pace of its budget, at the cost of one descriptor and a timer
            transport.pause_reading()
            asyncio.get_running_loop().call_later(min(wait, HOLD_MAX_S), self._turn_away, transport, 1,
                                                  b'this address was refused too often; it was held until '
                                                  b'its budget refilled')

    @staticmethod
    def _turn_away(transport, seconds: int, detail: bytes) -> None:   # type: ignore[no-untyped-def]
        """A 429 before the request is read: the cheapest answer there is."""
        if transport.is_closing():
            return
        body = b'{"error": "busy", "detail": "%s"}' % detail
        transport.write(TOO_MANY_CONNECTIONS % (seconds, len(body), body))
        # closed on the next turn: the handler's own start-up, which follows this call, expects it open
        asyncio.get_running_loop().call_soon(transport.close)

    def connection_lost(self, handler, exc=None) -> None:   # type: ignore[no-untyped-def]
        address = self._counted.pop(handler, None)
        if address is not None:
            self.limits.connection_closed(address)
        super().connection_lost(handler, exc)


class LimitedRunner(web.AppRunner):
    """An AppRunner whose server counts connections per address."""

    def __init__(self, app: web.Application, limits: Limits, refusals: RefusalLog, **kwargs) -> None:
        super().__init__(app, **kwargs)
        self.limits = limits
        self.refusals = refusals

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        limited = LimitedServer(server.request_handler, request_factory=server.request_factory,
                                handler_cancellation=server.handler_cancellation,
                                loop=server._loop, limits=self.limits, refusals=self.refusals, **server._kwargs)
        return limited
