"""The Tanji ingest server as an aiohttp application (docs/server.md): this module
only assembles it.  Routes live in server/api.py (upload exchange, operator and
admin endpoints), server/accounting.py and server/openapi.py; what they share in
server/http.py."""

from __future__ import annotations

import asyncio
import ssl

from aiohttp import web

from server import accounting, api, openapi, remote_config
from server.config import ServerConfig
from server.db import DatabaseURL
from server.dbthreads import DatabaseThreads
from server.fanout import Fanout
from server.http import SERVER, Server, auth_middleware, error_middleware, limits_middleware
from server.ingest import Ingest, load_private_key
from server.limits import Limits
from server.transport import LimitedRunner
from shared.tls import certificate_sha256, is_loopback, own_certificate


async def _startup(app: web.Application) -> None:
    srv = app[SERVER]
    await srv.db.migrate()
    await srv.ingest.start()
    await srv.fanout.start()


async def _cleanup(app: web.Application) -> None:
    srv = app[SERVER]
    await srv.fanout.stop()
    await srv.ingest.stop()
    srv.db.close()


def make_app(config: ServerConfig) -> web.Application:
    db = DatabaseThreads(DatabaseURL.parse(config.db))
    limits = Limits.of(config)
    ingest = Ingest(db, config, limits)
    app = web.Application(client_max_size=config.max_frame_bytes + 1,
                          middlewares=[limits_middleware, error_middleware, auth_middleware])
    app[SERVER] = Server(config, db, ingest, Fanout(db, config, ingest.listen), limits,
                         config_key=load_private_key(config.config_key, 'config_key') if config.config_key else None)
    api.add_routes(app.router)
    remote_config.add_routes(app.router)
    accounting.add_routes(app.router)
    openapi.add_routes(app.router)
    app.on_startup.append(_startup)
    app.on_cleanup.append(_cleanup)
    return app


def ssl_context(config: ServerConfig) -> tuple[ssl.SSLContext | None, str]:
    """The server's TLS context and its certificate's SHA-256 (for gateways to pin), or (None, '')
    for plain HTTP: TLS unless tls = "off", or tls = "auto" (the default) on a loopback host.
    Without tls_cert and tls_key the centre makes its own certificate in tls_dir."""
    wanted = bool(config.tls_cert) or config.tls == 'on' or (config.tls == 'auto' and not is_loopback(config.host))
    if not wanted:
        return None, ''
    cert, key = (config.tls_cert, config.tls_key) if config.tls_cert else own_certificate(config.tls_dir, config.host)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert, key)
    with open(cert, 'rb') as f:
        return ctx, certificate_sha256(f.read())


def serve(app: web.Application, config: ServerConfig, ctx: ssl.SSLContext | None) -> None:
    """Serve until SIGTERM or SIGINT, as web.run_app does, with a runner that counts each
    address's connections (server/limits.py)."""
    async def main() -> None:
        # lingering_time: after refusing a body the server reads and discards the rest for at most
        # 1 s (aiohttp's default 10 s lets a slow sender hold the connection on)
        runner = LimitedRunner(app, app[SERVER].limits, app[SERVER].refusals, handle_signals=True, access_log=None,
                               lingering_time=1.0)
        await runner.setup()
        try:
            await web.TCPSite(runner, config.host, config.port, ssl_context=ctx).start()
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    loop = asyncio.new_event_loop()
    task = loop.create_task(main())
    try:
        loop.run_until_complete(task)
    except (web.GracefulExit, KeyboardInterrupt):
        pass
    finally:
        task.cancel()
        loop.run_until_complete(asyncio.gather(task, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
