"""Pulling files from registered remote file servers (HTTP, HTTPS, FTP, SFTP)."""
