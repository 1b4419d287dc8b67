"""The dashboard, the login page and the public passport pages (server-rendered, no CDN)."""
