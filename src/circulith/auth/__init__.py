"""Identity and access: passwords, sessions, CSRF, API keys, roles and audiences (pure parts).

Nothing here opens a database: the store keeps users, sessions, keys, grants and the access log
(:mod:`circulith.store.platform_repo`), and the services combine the two
(:mod:`circulith.services.access_rules`, :mod:`circulith.services.credentials`).
"""
