"""Pure rules of the service: no I/O, only `core` and the standard library."""
