"""circulith: the shared system for the circular economy of electric-vehicle batteries.

Passport registry and lifecycle ledger, triage, recovery and planning. Domain packages
(``passport``, ``ledger``, ``triage``, ``recovery``, ``planning``) are pure computation;
``store`` is the only package that speaks SQL; ``cli``, ``api`` and ``web`` orchestrate.
"""

__version__ = "0.1.0"
