"""The demonstration cluster (scripts/cluster) and the servers the tests start."""
