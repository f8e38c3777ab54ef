"""The ``osdepot`` command."""
