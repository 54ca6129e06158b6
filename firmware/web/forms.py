"""The configuration forms of the page: the fields of a bus, meter, point or centre (the
loader's common settings and the protocol's own, from the driver descriptors), what a
submitted form means as TOML values, and the loader's verdict put next to the field it
names.  A form's text is turned into values by the field's kind and checked by the
field itself (firmware/drivers/descriptor.py), then the whole configuration by the
loader, so the page accepts exactly what the TOML file would."""

from __future__ import annotations

import re
from dataclasses import dataclass

from firmware import bindings
from firmware.config import CENTRE_FIELDS
from firmware.drivers.descriptor import PERIODS, Field
from firmware.drivers.registry import PROTOCOLS
from firmware.sources.config import COMMON_FIELDS, PUSHED_FIELDS, PUSHED_ROWS

SEPARATORS = re.compile(r'[,，\s]+')
# sections whose settings are their own, not a protocol's; and the rows some of them list
OWN_FIELDS = {'centre': CENTRE_FIELDS, **PUSHED_FIELDS, 'accounting_unit': bindings.UNIT_FIELDS,
              'emission_source': bindings.SOURCE_FIELDS}
ROWS = {**PUSHED_ROWS, 'emission_source': bindings.PARAMETER_ROW}
COLON = re.compile(r'：|: ')
LABEL_END = re.compile(r'[，（]|, | \(')


def label_and_help(text: str) -> tuple[str, str]:
    """A descriptor's help sentence as a short label and the rest: 'label：detail' (the
    descriptors' convention), else up to the first comma or parenthesis ('上报单位，如 kWh'
    -> ('上报单位', '如 kWh')), neither counted within brackets, so a label stays short
    and the detail goes beneath."""
    def outside(m: re.Match) -> bool:        # not within (...), （...） or [...]
        before = text[:m.start()]
        return sum(before.count(c) for c in '([（') == sum(before.count(c) for c in ')]）')
    m = next((m for m in COLON.finditer(text) if outside(m)), None)
    if m is None:
        m = next((m for m in LABEL_END.finditer(text) if outside(m)), None)
    if m is None:
        return text, ''
    rest = text[m.start():].strip() if m.group() in ('（', ' (') else text[m.end():]
    return text[:m.start()], rest


@dataclass
class FormField:
    """One input of a form: its dotted name (register.address), its description, and the
    choices it offers now (the configured buses, meters)."""
    name: str
    field: Field
    choices: tuple | None = None
    group: str = ''                   # the sub-table it belongs to ('register'), '' for the entry's own

    @property
    def kind(self) -> str:
        return self.field.kind


def fields_for(section: str, protocol: str | None, names: dict[str, list[str]]) -> list[FormField]:
    """The inputs of a `section` form for `protocol` (bus, meter, point; None for the sections
    of OWN_FIELDS, whose rows are rows_for's).  `names`: the choices a setting offers now (the
    configured buses, meters, accounting units; the registered industries and methods)."""
    own: list[Field] = []
    if section in OWN_FIELDS:
        common = OWN_FIELDS[section]
    else:
        common = COMMON_FIELDS[section]
        spec = PROTOCOLS[protocol]
        own = {'bus': spec.bus_fields, 'meter': spec.meter_fields, 'point': spec.point_fields}[section]
    out = []
    for f in list(common) + list(own):
        if f.kind == 'table':
            out += [FormField('%s.%s' % (f.name, sub.name), sub, sub.choices, f.name) for sub in f.fields]
        else:
            choices = tuple(names[f.name]) if f.kind == 'choice' and f.name in names else f.choices
            out.append(FormField(f.name, f, choices))
    return out


def prefixed(fields: list[FormField], prefix: str) -> list[FormField]:
    """The same inputs under `prefix` (a new meter's form carries its first point as 'point.')."""
    return [FormField(prefix + ff.name, ff.field, ff.choices, prefix + ff.group if ff.group else '')
            for ff in fields]


def under(form: dict[str, str], prefix: str) -> dict[str, str]:
    """The part of a submitted form under `prefix`, without it."""
    return {k[len(prefix):]: v for k, v in form.items() if k.startswith(prefix)}


BLANK_ROWS = 3          # rows a form offers for adding


def rows_for(section: str) -> tuple[str, list[FormField]] | None:
    """The rows a section lists (('node', ...) for [[opcua.node]]), or None."""
    if section not in ROWS:
        return None
    name, fields = ROWS[section]
    return name, [FormField(f.name, f, f.choices) for f in fields]


def rows_to_form(row: str, fields: list[FormField], rows: list[dict]) -> dict[str, str]:
    out = {}
    for n, entry in enumerate(rows, start=1):
        out.update(('%s.%d.%s' % (row, n, k), v) for k, v in to_form(fields, entry).items())
    return out


def rows_from_form(row: str, fields: list[FormField], form: dict[str, str]) -> tuple[list[dict], dict]:
    """The rows a form submits ('node.2.code' ...), blank ones left out, and their errors."""
    numbers = sorted({int(k.split('.')[1]) for k in form if k.startswith(row + '.') and k.count('.') == 2
                      and k.split('.')[1].isdigit()})
    rows, errors = [], {}
    for n in numbers:
        sub = {ff.name: form.get('%s.%d.%s' % (row, n, ff.name), '') for ff in fields}
        if not any(v.strip() for v in sub.values()):
            continue
        values, errs = from_form(fields, sub)
        errors.update(('%s.%d.%s' % (row, n, k), e) for k, e in errs.items())
        rows.append(values)
    return rows, errors


def to_form(fields: list[FormField], entry: dict) -> dict[str, str]:
    """An entry's values as the form's text."""
    out = {}
    for ff in fields:
        value = entry.get(ff.group, {}).get(ff.field.name) if ff.group else entry.get(ff.name)
        if value is None:
            out[ff.name] = ''
        elif ff.kind == 'bool':
            out[ff.name] = 'on' if value else ''
        elif ff.kind in ('list', 'pair'):
            out[ff.name] = ', '.join(str(v) for v in value)
        else:
            out[ff.name] = str(value)
    return out


class FormError(Exception):
    """A message key of shared/web/i18n.py and its values."""

    def __init__(self, key: str, **values: object) -> None:
        super().__init__(key)
        self.key = key
        self.values = values


def from_form(fields: list[FormField], form: dict[str, str]) -> tuple[dict, dict[str, FormError]]:
    """The TOML values a submitted form means, and the errors by field.  A blank optional
    field, and one left at its default, is left out, so the file stays as short as written."""
    values: dict = {}
    errors: dict[str, FormError] = {}
    for ff in fields:
        text = form.get(ff.name, '').strip()
        try:
            value = _value(ff, text)
            if value is not None and ff.kind != 'choice':        # a choice is one of ff.choices already
                ff.field.parse(value)
        except FormError as e:
            errors[ff.name] = e
            continue
        except ValueError as e:
            errors[ff.name] = FormError('err_setting', message=str(e))
            continue
        if value is None or (not ff.field.required and value == ff.field.default):
            continue
        if ff.group:
            values.setdefault(ff.group, {})[ff.field.name] = value
        else:
            values[ff.name] = value
    return values, errors


def _value(ff: FormField, text: str) -> object:
    kind = ff.kind
    if kind == 'bool':
        return text in ('on', 'true', '1')
    if not text:
        if ff.field.required:
            raise FormError('err_required')
        return None
    if kind == 'int':
        try:
            return int(text)
        except ValueError:
            raise FormError('err_integer', text=text)
    if kind in ('number', 'period'):
        if kind == 'period' and text in PERIODS:
            return text
        return _number(text)
    if kind == 'choice':
        for choice in ff.choices or ():
            if str(choice) == text:
                return choice
        raise FormError('err_choice', choices=', '.join(str(c) for c in ff.choices or ()))
    if kind == 'list':
        return [item for item in SEPARATORS.split(text) if item]
    if kind == 'pair':
        items = [item for item in SEPARATORS.split(text) if item]
        if len(items) != 2:
            raise FormError('err_pair')
        return [_number(item) for item in items]
    return text


def _number(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        raise FormError('err_number', text=text)


WHERE = re.compile(r'^(\w+)\[(\d+)\]: (.*)$', re.S)


def place_error(message: str, fields: list[FormField], section: str, index: int | None) -> tuple[str, str]:
    """Where the loader's error goes: (field name, message) for a setting of the entry being
    edited (`index` counts from 0 in its section), ('form', message) otherwise."""
    m = WHERE.match(message)
    if m is None or m.group(1) != section or index is None or int(m.group(2)) != index + 1:
        return 'form', message
    said = m.group(3)
    head = re.split(r'[\s:.]', said, maxsplit=1)[0]
    for ff in fields:
        if head in (ff.name, ff.field.name) and (not ff.group or head == ff.field.name):
            return ff.name, said
        if ff.group and head == ff.group:
            return ff.name, said
    return 'form', said
