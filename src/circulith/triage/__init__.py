"""Triage of retired batteries: readers, SOH / RUL / safety estimation, grading and regrouping.

Layers (each testable on its own):

- ``readers/``: every function that opens a file (``read_*``) and returns a canonical frame;
- ``timeseries``: validation of a canonical measurement frame (units, sign, chemistry window);
- ``capacity``, ``resistance``, ``pulse_features``, ``pulse_model``, ``rul``, ``safety``: estimates,
  each with an uncertainty interval;
- ``rules``, ``grading``: the shipped, versioned, cited rules and the vectorised grade engine;
- ``regroup``: matching graded units into second-life packs.
"""
