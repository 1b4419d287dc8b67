"""The REST API (FastAPI): :func:`circulith.api.app.create_app` builds it from :class:`Settings`."""
