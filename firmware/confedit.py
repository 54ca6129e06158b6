"""Edits of the gateway's TOML configuration as the page makes them: one bus, meter, point
or centre put or removed, and the rest of the file (comments, order, layout) kept as the
engineer wrote it.  A bus or meter renamed takes its meters or points along; one removed
takes them too.  The result is checked by firmware/versions.py like any other version."""

from __future__ import annotations

import tomlkit
from tomlkit.items import AoT

from shared.codec.text import ascii_digits

SECTIONS = ('bus', 'meter', 'point', 'centre', 'mqtt', 'opcua', 'hj212', 'accounting_unit', 'emission_source')
# found by this setting; a point by its code; the others by position (1, 2, ...)
NAMED = {'bus': 'name', 'meter': 'name', 'centre': 'name', 'accounting_unit': 'name', 'emission_source': 'id'}
# section: (its children, their reference): renamed and removed with it
CHILDREN = {'bus': ('meter', 'bus'), 'meter': ('point', 'meter'), 'accounting_unit': ('emission_source', 'unit')}


def point_key(code: object) -> str:
    """A point's key: its code, as 12 digits when it is a number."""
    text = str(code)
    return '%012d' % int(text) if ascii_digits(text) else text


def key_of(section: str, entry: dict, position: int = 0) -> str:
    """An entry's key in the page's paths: its name, its code, or its position from 1."""
    if section == 'point':
        return point_key(entry.get('code', ''))
    return str(entry.get(NAMED[section], '')) if section in NAMED else str(position + 1)


class Document:
    def __init__(self, text: str) -> None:
        self.doc = tomlkit.parse(text)

    def text(self) -> str:
        return tomlkit.dumps(self.doc)

    def entries(self, section: str) -> list[dict]:
        return [item.unwrap() for item in self.doc.get(section, [])]

    def keyed(self, section: str) -> list[tuple[str, dict]]:
        return [(key_of(section, e, i), e) for i, e in enumerate(self.entries(section))]

    def find(self, section: str, key: str) -> dict | None:
        i = self._index(section, key)
        return None if i is None else self.doc[section][i].unwrap()

    def children(self, section: str, key: str) -> list[tuple[str, str]]:
        """What removing this entry removes with it: its meters and their points, its points."""
        if section not in CHILDREN:
            return []
        child, ref = CHILDREN[section]
        out = []
        for entry in self.entries(child):
            if str(entry.get(ref)) == key:
                out.append((child, key_of(child, entry)))
                out += self.children(child, key_of(child, entry))
        return out

    def _index(self, section: str, key: str) -> int | None:
        for i, entry in enumerate(self.doc.get(section, [])):
            if key_of(section, entry, i) == key:
                return i
        return None

    def put(self, section: str, key: str | None, values: dict) -> str:
        """Replace the entry `key` of `section` with `values`, or add it (key None); its key now."""
        if section not in SECTIONS:
            raise ValueError('no section %r' % section)
        table = tomlkit.table()
        for name, value in values.items():
            table[name] = _item(value)
        table.add(tomlkit.nl())
        i = None if key is None else self._index(section, key)
        if key is not None and i is None:
            raise KeyError(key)
        if section not in self.doc:
            self.doc[section] = AoT([table])
        elif i is None:
            self.doc[section].append(table)
        else:
            self.doc[section][i] = table
        new_key = key_of(section, values, len(self.doc[section]) - 1 if i is None else i)
        if key is not None and new_key != key and section in CHILDREN:
            child, ref = CHILDREN[section]
            for entry in self.doc.get(child, []):
                if str(entry.get(ref)) == key:
                    entry[ref] = new_key
        return new_key

    def table(self, section: str) -> dict:
        """A single table ([web], [network]) as values; {} when absent."""
        found = self.doc.get(section)
        return found.unwrap() if found is not None else {}

    def set_values(self, section: str, values: dict) -> None:
        """Set settings of a single table ([web], [network]), keeping its others and its comments."""
        if section not in self.doc:
            self.doc[section] = tomlkit.table()
        for name, value in values.items():
            self.doc[section][name] = _item(value)

    def replace_values(self, section: str, values: dict, keep: tuple = ()) -> None:
        """A single table's settings become `values` (settings left blank go), but for `keep`."""
        kept = {k: v for k, v in self.table(section).items() if k in keep}
        table = tomlkit.table()
        for name, value in dict(kept, **values).items():
            table[name] = _item(value)
        if section in self.doc:
            self.doc[section] = table
        else:
            self.doc.add(tomlkit.nl())
            self.doc[section] = table

    def remove(self, section: str, key: str) -> list[tuple[str, str]]:
        """Remove the entry and what belongs to it; returns what was removed."""
        removed = [(section, key)] + self.children(section, key)
        for sec, k in reversed(removed):
            i = self._index(sec, k)
            if i is not None:
                del self.doc[sec][i]
                if not self.doc[sec]:
                    del self.doc[sec]
        return removed


def _item(value: object) -> object:
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):   # [[opcua.node]] rows
        rows = tomlkit.aot()
        for v in value:
            row = tomlkit.table()
            for k, x in v.items():
                row[k] = _item(x)
            rows.append(row)
        return rows
    if isinstance(value, dict):
        inline = tomlkit.inline_table()
        inline.update({k: _item(v) for k, v in value.items()})
        return inline
    return value

