"""Content inspection without side effects: file kinds, ISO 9660/UDF, WIM, osinfo-db
and the recognition of installation media."""
