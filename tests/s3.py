"""The tests' S3 server: the demonstration cluster's SeaweedFS (cluster/seaweed.py)."""

from cluster.seaweed import ACCESS_KEY, SECRET_KEY, SeaweedS3, weed

__all__ = ["ACCESS_KEY", "SECRET_KEY", "SeaweedS3", "weed"]
