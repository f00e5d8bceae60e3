"""Helpers the test suites share: a live server, an SMTP sink, the axe-core accessibility check."""
