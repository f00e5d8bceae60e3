"""Servicekonto: one citizen account for every online service of German public administration."""

__version__ = "0.1.0"
