"""Pure rules and types: no I/O, no frameworks."""
