"""What the gateway's pages share: the running gateway, its configuration versions and the
file as a document to edit, and what every page of the gateway's frame shows."""

from __future__ import annotations

from aiohttp import web

from firmware.confedit import Document

GATEWAY = web.AppKey('tanji_page_gateway', object)


def reconfigurer_of(request: web.Request):   # type: ignore[no-untyped-def]
    reconfigurer = request.app[GATEWAY].reconfigurer
    if reconfigurer is None:
        raise web.HTTPNotFound(text='this gateway runs without configuration versions')
    return reconfigurer


def document_of(request: web.Request) -> Document:
    """The configuration file as it is now, to edit."""
    return Document(reconfigurer_of(request).versions.file_text())


def base_context(request: web.Request) -> dict:
    """What every page of the gateway's frame shows: its status and configuration version."""
    gw = request.app[GATEWAY]
    return {'status': gw.status(), 'config': gw.reconfigurer.status() if gw.reconfigurer else None}
