"""Checks of configuration values shared by the gateway's configuration sections
(firmware/config.py, firmware/sources/config.py): every mistake is one
GatewayConfigError naming the setting, raised before anything starts."""

from __future__ import annotations

import re

from firmware.drivers.descriptor import Field

NAME = re.compile(r'[A-Za-z0-9_.-]{1,64}')


class GatewayConfigError(Exception):
    """The configuration cannot be used; the message names the setting."""


def fail(where: str, message: str):
    raise GatewayConfigError('%s: %s' % (where, message))


def check_keys(doc: dict, allowed: set, where: str) -> None:
    if not isinstance(doc, dict):
        fail(where, 'must be a table')
    extra = set(doc) - allowed
    if extra:
        fail(where, 'unknown setting(s) %s' % ', '.join(sorted(extra)))


def number(doc: dict, key: str, where: str, default, low, high=None, integer=False):
    try:
        return Field(key, 'int' if integer else 'number', default, low=low, high=high).value(doc)
    except ValueError as e:
        fail(where, str(e))


def text(doc: dict, key: str, where: str, required=True, default=None):
    v = doc.get(key, default)
    if v is None and not required:
        return None
    if not isinstance(v, str) or not v:
        fail(where, '%s is required (text)' % key)
    return v


def unique_name(doc: dict, where: str, seen: set) -> str:
    name = doc.get('name')
    if not isinstance(name, str) or not NAME.fullmatch(name) or name in seen:
        fail(where, 'name must be a unique name of letters, digits, . _ -')
    seen.add(name)
    return name
