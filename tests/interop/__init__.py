"""Interop tests: certified third-party protocol libraries against the real server, through Chromium."""
