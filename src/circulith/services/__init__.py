"""Service functions: the sequences of steps that the CLI, the API and the web share.

Each opens one transaction per unit of work, calls the pure engines and the store, and returns
plain results. Nothing here formats output for a terminal or an HTTP response.
"""
