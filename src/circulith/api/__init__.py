"""The REST API (FastAPI): its routers are installed by :func:`circulith.server.create_app`."""
