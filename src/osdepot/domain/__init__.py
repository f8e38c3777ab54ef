"""Plain types and rules of the repository: no I/O, no web, no storage."""
