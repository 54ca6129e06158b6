"""Pages for people (CPython, aiohttp): accounts, sessions, CSRF, language and
templates shared by the gateway's page and the platform's console."""
