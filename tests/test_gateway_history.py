"""The page's memory of the last hours (firmware/history.py) and its chart
(firmware/web/chart.py): one value a minute, old minutes dropped, gaps kept as gaps, and
nothing from a reading reaches the SVG unescaped."""

import math

from firmware.history import MINUTE_MS, History
from firmware.web import chart

T0 = 1_764_547_200_000       # 2025-12-01T00:00Z, a minute boundary


def test_one_value_a_minute_for_the_last_hours():
    h = History(minutes=3)
    h.add(1, T0 + 1_000, 105, -1, 'kWh')
    h.add(1, T0 + 59_000, 107, -1, 'kWh')             # the minute's latest counts
    h.add(1, T0 + MINUTE_MS, None, 0, 'kWh')          # missing: a gap
    h.add(1, T0 + 2 * MINUTE_MS, 2.5, 0, 'kWh')       # a float value as it is
    h.add(1, T0 - MINUTE_MS, 1, 0, 'kWh')             # back-dated: not drawn
    got = h.series(1)
    assert [t for t, _ in got] == [T0, T0 + MINUTE_MS, T0 + 2 * MINUTE_MS]
    assert got[0][1] == 10.7 and math.isnan(got[1][1]) and got[2][1] == 2.5
    h.add(1, T0 + 5 * MINUTE_MS, 3, 0, 'kWh')
    assert [t for t, _ in h.series(1)] == [T0 + 5 * MINUTE_MS]    # older than 3 minutes: dropped
    assert h.codes() == [1] and h.units[1] == 'kWh'


def test_the_chart_breaks_at_gaps_and_escapes_what_it_shows():
    series = [(T0, 1.0), (T0 + MINUTE_MS, 2.0), (T0 + 2 * MINUTE_MS, float('nan')), (T0 + 3 * MINUTE_MS, 3.0)]
    drawing = str(chart.svg(series, '<t>', 8 * 3600, 'a "title"'))
    assert drawing.count('<polyline') == 1 and drawing.count('<circle') == 1     # two runs: a line and a dot
    assert '&lt;t&gt;' in drawing and '<t>' not in drawing and 'a &#34;title&#34;' in drawing
    assert '08:00' in drawing                                                    # local time of the first minute
    assert str(chart.svg([(T0, float('nan'))], 't', 0, 'x')) == ''
