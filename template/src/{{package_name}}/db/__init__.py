"""The database: one engine per process, one session per request or task."""
