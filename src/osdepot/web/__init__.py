"""The HTTP layer: parses requests, calls services, renders the LXCA envelope."""
