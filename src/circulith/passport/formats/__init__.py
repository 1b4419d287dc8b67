"""Passport exchange formats: each format is one declarative mapping table used in both directions.

- :mod:`circulith.passport.formats.batterypass`: the Battery Pass data model v1.0-v1.2.x.
- :mod:`circulith.passport.formats.detect`: which format a foreign document is in.
"""
