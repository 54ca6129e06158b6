"""The Tanji ingest server as an aiohttp application (docs/server.md): this module
only assembles it.  Routes live in server/api.py (upload exchange, operator and
admin endpoints), server/accounting.py and server/openapi.py; what they share in
server/http.py."""

from __future__ import annotations

import ssl

from aiohttp import web

from server import accounting, api, openapi
from server.config import ServerConfig
from server.db import DatabaseURL
from server.dbthreads import DatabaseThreads
from server.fanout import Fanout
from server.http import SERVER, Server, auth_middleware, error_middleware
from server.ingest import Ingest


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
    ingest = Ingest(db, config)
    app = web.Application(client_max_size=config.max_frame_bytes + 1,
                          middlewares=[error_middleware, auth_middleware])
    app[SERVER] = Server(config, db, ingest, Fanout(db, config, ingest.listen))
    api.add_routes(app.router)
    accounting.add_routes(app.router)
    openapi.add_routes(app.router)
    app.on_startup.append(_startup)
    app.on_cleanup.append(_cleanup)
    return app


def ssl_context(config: ServerConfig) -> ssl.SSLContext | None:
    if not config.tls_cert:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(config.tls_cert, config.tls_key)
    return ctx
