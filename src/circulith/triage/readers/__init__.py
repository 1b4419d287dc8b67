"""Readers of measurement, pulse-table, inspection and BMS-summary files (the only I/O in triage)."""
