"""Writes shared/accounting/data/factors-2026.1.json, the default factor library, from the
tables of ../shared/reference/accounting.md (values, units, sources and status as
given there).  Run it when a default changes; the file is the library, this is how
it was made reviewable."""

import json
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / 'shared' / 'accounting' / 'data' / 'factors-2026.1.json'
REF = 'reference/accounting.md'

# (subject, name, FC unit, NCV, CC tC/TJ, OF, status, note)
FUELS_GBT32150 = [
    ('raw_coal', '原煤 raw coal', 't', '20.908', '26.37', '0.94', 'corroborated', ''),
    ('coke', '焦炭 coke', 't', '28.435', '29.5', '0.93', 'corroborated', ''),
    ('crude_oil', '原油 crude oil', 't', '41.816', '20.1', '0.98', 'corroborated', ''),
    ('fuel_oil', '燃料油 fuel oil', 't', '41.816', '21.1', '0.98', 'corroborated', ''),
    ('gasoline', '汽油 gasoline', 't', '43.070', '18.9', '0.98', 'corroborated', ''),
    ('kerosene', '一般煤油 kerosene', 't', '43.070', '19.6', '0.98', 'conflict',
     'CC 19.6 as GB/T 32150 is usually cited; the S2 table gives 19.5'),
    ('diesel', '柴油 diesel', 't', '42.652', '20.2', '0.98', 'corroborated', ''),
    ('lpg', '液化石油气 LPG', 't', '50.179', '17.2', '0.98', 'corroborated', 'some code uses OF 0.99'),
    ('refinery_gas', '炼厂干气 refinery dry gas', 't', '46.055', '18.2', '0.98', 'conflict',
     'NCV 46.055 (S2); GB/T 32150 as usually cited gives 45.998 and OF 0.99'),
    ('natural_gas', '天然气 natural gas', '10^4 Nm3', '389.31', '15.3', '0.99', 'corroborated', ''),
    ('coke_oven_gas', '焦炉煤气 coke-oven gas', '10^4 Nm3', '179.81', '13.58', '0.99', 'unconfirmed',
     'NCV is the top of GB/T 2589\'s 16,726-17,981 kJ/m3; code variants 173.854, 179.21'),
    ('blast_furnace_gas', '高炉煤气 blast-furnace gas', '10^4 Nm3', '33.000', '70.8', '0.99', 'unconfirmed', ''),
    ('converter_gas', '转炉煤气 converter gas', '10^4 Nm3', '84.000', '49.6', '0.99', 'unconfirmed', ''),
    ('anthracite', '无烟煤 anthracite', 't', '26.7', '27.4', '0.94', 'unconfirmed', 'GB/T 32151 family edition'),
    ('bituminous_coal', '烟煤 bituminous coal', 't', '19.570', '26.1', '0.93', 'unconfirmed',
     'GB/T 32151 family edition'),
    ('lignite', '褐煤 lignite', 't', '11.9', '28.0', '0.96', 'unconfirmed', 'GB/T 32151 family edition'),
]
FUELS_NDRC = [
    ('anthracite', '24.515', '27.49', '0.94'), ('bituminous_coal', '23.204', '26.18', '0.93'),
    ('lignite', '14.449', '28.00', '0.96'),
]
# DB35/T 2000 source codes (shared/codec/tables) of the fuels
SOURCES = {'001': 'anthracite', '002': 'bituminous_coal', '003': 'lignite', '007': 'coke', '008': 'crude_oil',
           '009': 'fuel_oil', '010': 'gasoline', '011': 'diesel', '012': 'kerosene', '014': 'lpg',
           '015': 'refinery_gas', '016': 'natural_gas', '017': 'coke_oven_gas', '018': 'blast_furnace_gas',
           '019': 'converter_gas', '023': 'raw_coal'}
# assumed relative standard uncertainties of defaults (Tanji's assumption, IPCC 2006 vol. 2 ch. 1 ranges)
U_REL = {'ncv': '0.02', 'cc': '0.03', 'of': '0.01', 'grid': '0.05', 'heat': '0.05', 'carbonate': '0.01',
         'clinker': '0.03', 'tce': '0.01', 'regional': '0.05', 'gwp': '0', 'constant': '0'}


def rec(records, kind, subject, value, unit, source, status, standard, edition=None, data_year=None, applies=None,
        gas=None, regime=None, series=None, note='', name=None):
    rid = '%s/%s' % (kind, subject) + ('/%s' % series if series else '') + ('/%s' % regime if regime else '') + \
        ('/%s' % data_year if data_year and kind == 'grid' else '')
    records.append({k: v for k, v in {
        'id': rid, 'version': 1, 'kind': kind, 'subject': subject, 'name': name, 'value': value, 'unit': unit,
        'gas': gas, 'regime': regime, 'series': series, 'standard': standard, 'edition': edition,
        'data_year': data_year, 'applies': applies, 'status': status, 'origin': 'default', 'source': source,
        'note': note or None, 'u_rel': U_REL.get(kind.split('_')[0], '0.02')}.items() if v is not None})


def main():
    r = []
    for subject, name, fu, ncv, cc, of, status, note in FUELS_GBT32150:
        src = 'GB/T 32150-2015 annex B default (NCV: GB/T 2589 / energy yearbook; CC, OF: provincial inventory ' \
              'guideline); %s §3' % REF
        rec(r, 'ncv', subject, ncv, 'GJ/%s' % fu, src, status, 'GB/T 32150-2015', '2015', note=note, name=name)
        rec(r, 'cc', subject, cc, 'tC/TJ', src, status, 'GB/T 32150-2015', '2015', note=note, name=name)
        rec(r, 'of', subject, of, 'fraction', src, status, 'GB/T 32150-2015', '2015', note=note, name=name)
    for subject, ncv, cc, of in FUELS_NDRC:
        src = 'NDRC industry guidelines 2013-2015; %s §3' % REF
        rec(r, 'ncv', subject, ncv, 'GJ/t', src, 'unconfirmed', 'NDRC guidelines', '2013-2015', regime='ndrc')
        rec(r, 'cc', subject, cc, 'tC/TJ', src, 'unconfirmed', 'NDRC guidelines', '2013-2015', regime='ndrc')
        rec(r, 'of', subject, of, 'fraction', src, 'unconfirmed', 'NDRC guidelines', '2013-2015', regime='ndrc')
    # power-generation guideline: default carbon content per heat of coal, by data year (S8)
    rec(r, 'cc_default', 'coal', '0.03356', 'tC/GJ', 'MEE power-generation facility guideline 2021; %s §2.2' % REF,
        'confirmed', 'MEE 2021 power guideline', '2021', applies=[2013, 2020])
    rec(r, 'cc_default', 'coal', '0.03085', 'tC/GJ', 'MEE notice, June 2022, on coal carbon content (2021 and 2022 '
        'data); %s §2.2' % REF, 'confirmed', 'MEE June 2022 notice', '2022', applies=[2021, 2100], regime='2022')
    rec(r, 'of', 'coal_power', '0.99', 'fraction', 'MEE power-generation guideline; %s §2.2' % REF, 'unconfirmed',
        'MEE 2021 power guideline', '2022')
    # carbonates (process)
    for subject, ef in (('caco3', '0.4397'), ('mgco3', '0.5220'), ('dolomite', '0.4773')):
        rec(r, 'carbonate_ef', subject, ef, 'tCO2/t', 'molar mass ratio CO2/carbonate; %s §2.3' % REF,
            'unconfirmed', 'stoichiometry', None, gas='CO2')
    # clinker EF sets (configuration, two sets circulate)
    for subject, s1, s2 in (('portland', '0.535', '0.5274'), ('white', '0.550', '0.5479'),
                            ('sulfoaluminate', '0.413', '0.3532'), ('aluminate', '0.292', '0.1981')):
        rec(r, 'clinker_ef', subject, s1, 'tCO2/t', 'public code, set 1; %s §2.4' % REF, 'unconfirmed', 'set 1',
            regime='set1', gas='CO2')
        rec(r, 'clinker_ef', subject, s2, 'tCO2/t', 'public code, set 2; %s §2.4' % REF, 'unconfirmed', 'set 2',
            regime='set2', gas='CO2')
    # grid electricity: two series, data year != reporting year (section 4)
    for value, data_year, applies, notice, status in (
            ('0.6101', 2019, [2019, 2020], 'MEE power-generation guideline 2021', 'unconfirmed'),
            ('0.5810', 2021, [2021, 2022], 'MEE notice June 2022 / 2022 revision', 'unconfirmed'),
            ('0.5703', 2022, [2023, 2025], 'MEE notice Feb 2023 on 2023-2025 power-sector reporting', 'confirmed')):
        rec(r, 'grid', 'national', value, 'tCO2/MWh', '%s; %s §4 A' % (notice, REF), status, notice,
            data_year=data_year, applies=applies, series='ets', gas='CO2')
    for value, excl, data_year, notice in (('0.5568', '0.5942', 2021, 'MEE/NBS Announcement 2024 No.12'),
                                           ('0.5366', '0.5856', 2022, 'MEE/NBS announcement 20 Dec 2024')):
        # the draft cement and aluminium guidelines apply the year Y-2 factor (section 4)
        rec(r, 'grid', 'national', value, 'kgCO2/kWh', '%s; %s §4 B' % (notice, REF), 'confirmed', notice,
            data_year=data_year, applies=[data_year + 2, data_year + 2], series='statistical', gas='CO2')
        rec(r, 'grid', 'national', excl, 'kgCO2/kWh', '%s (excluding market-traded non-fossil power); %s §4 B'
            % (notice, REF), 'confirmed', notice, data_year=data_year, applies=[data_year + 2, data_year + 2],
            series='statistical_excl_nonfossil', gas='CO2')
    rec(r, 'grid_footprint', 'national', '0.6205', 'kgCO2e/kWh', 'MEE/NBS electricity carbon-footprint factor 2023 '
        '(life cycle: product footprints, not Scope 2); %s §4 C' % REF, 'confirmed', 'MEE/NBS', data_year=2023)
    rec(r, 'heat', 'purchased', '0.11', 'tCO2/GJ', 'enterprise guidelines recommended value; %s §2.5' % REF,
        'confirmed', 'enterprise guidelines', gas='CO2')
    # standard coal coefficients GB/T 2589 (section 5)
    for subject, value, unit, status in (
            ('raw_coal', '0.7143', 'kgce/kg', 'confirmed'), ('washed_coal', '0.9000', 'kgce/kg', 'confirmed'),
            ('coke', '0.9714', 'kgce/kg', 'confirmed'), ('crude_oil', '1.4286', 'kgce/kg', 'confirmed'),
            ('fuel_oil', '1.4286', 'kgce/kg', 'confirmed'), ('gasoline', '1.4714', 'kgce/kg', 'confirmed'),
            ('kerosene', '1.4714', 'kgce/kg', 'confirmed'), ('diesel', '1.4571', 'kgce/kg', 'confirmed'),
            ('lpg', '1.7143', 'kgce/kg', 'confirmed'), ('refinery_gas', '1.5714', 'kgce/kg', 'confirmed'),
            ('natural_gas', '1.3300', 'kgce/Nm3', 'confirmed'), ('gas_field_gas', '1.2143', 'kgce/Nm3', 'unconfirmed'),
            ('electricity', '0.1229', 'kgce/kWh', 'confirmed'), ('heat', '0.03412', 'tce/GJ', 'confirmed'),
            ('steam_low_pressure', '0.1286', 'kgce/kg', 'unconfirmed')):
        rec(r, 'tce', subject, value, unit, 'GB/T 2589 annex A (equivalent value); %s §5' % REF, status, 'GB/T 2589')
    for subject, value in (('coal', '2.66'), ('oil', '1.73'), ('natural_gas', '1.56')):
        rec(r, 'regional', subject, value, 'tCO2/tce', 'regional energy-statistics CO2 factors; %s §5' % REF,
            'confirmed', 'regional statistics', gas='CO2')
    for gas, sar, ar4, ar5 in (('CH4', '21', '25', '28'), ('N2O', '310', '298', '265'),
                               ('SF6', '23900', '22800', '23500')):
        for regime, v in (('SAR', sar), ('AR4', ar4), ('AR5', ar5)):
            rec(r, 'gwp', gas, v, 'tCO2e/t', 'IPCC %s 100-year GWP; %s §6' % (regime, REF),
                'confirmed' if (regime == 'AR4' or gas != 'SF6') else 'corroborated', 'IPCC ' + regime,
                regime=regime, gas=gas)
    rec(r, 'gwp', 'NF3', '17200', 'tCO2e/t', 'IPCC AR4 100-year GWP; %s §6' % REF, 'unconfirmed', 'IPCC AR4',
        regime='AR4', gas='NF3')
    rec(r, 'constant', 'co2_density', '19.77', 't/10^4 Nm3', 'CO2 density 1.977 kg/m3 at 0 °C, 101.325 kPa; '
        '%s §2.6' % REF, 'unconfirmed', 'NDRC chemical guidelines')
    doc = {'library': 'tanji-factors', 'version': '2026.1',
           'note': 'Defaults of ../shared/reference/accounting.md; no value checked against the primary text. '
                   'Relative standard uncertainties u_rel of defaults are Tanji assumptions; measured values '
                   'and user records override defaults.',
           'fuel_sources': SOURCES, 'records': r}
    OUT.write_text(json.dumps(doc, ensure_ascii=False, indent=1) + '\n', encoding='utf-8')
    print('%d records -> %s' % (len(r), OUT))


if __name__ == '__main__':
    main()
