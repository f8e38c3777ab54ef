"""Use cases of the repository. They call the domain and the ports; no HTTP here."""
