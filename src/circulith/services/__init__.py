"""Service functions: one per use case, shared by the CLI, the API and the dashboard.

Each takes the acting :class:`~circulith.auth.policy.Principal` (the CLI acts as one too: ``--as ORG``,
``CIRCULITH_AS`` or the registry operator), applies the access rules and the access log in
:mod:`~circulith.services.access_rules`, calls the pure engines and the store, and returns a typed pydantic
model that the API serves as its response model and the CLI prints with ``--json``.

* :mod:`~circulith.services.access_rules` -- time stamps, scope checks, audiences per battery, access log
* :mod:`~circulith.services.credentials` -- logins, browser sessions, API keys, who-am-I, CLI principals
* :mod:`~circulith.services.passports` -- passport views per audience, search, registration, lineage,
  history, identifier resolution, export
* :mod:`~circulith.services.fleet` -- fleet aggregates, ledger head and verification
* :mod:`~circulith.services.background` -- background jobs and the passport-import job
* :mod:`~circulith.services.demo_users` -- demo log-ins
* :mod:`~circulith.services.reference_tables` -- the shipped reference tables with versions and digests
* :mod:`~circulith.services.registry` -- file imports of passports and events, successors, verification
* one module per further area: ``events``, ``access`` (grants and the access log), ``intake``, ``triage``,
  ``triage_views``, ``regroup``, ``offers``, ``recovery`` and ``recovery_runs``, ``lot_reports``,
  ``lot_custody``, ``compliance``, ``traceability``, ``recycled_content``, ``planning``, ``national``

Nothing here formats output for a terminal or an HTTP response.
"""
