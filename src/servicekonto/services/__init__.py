"""Use cases. Each service takes its dependencies as keyword arguments (ports, clock, settings values)."""
