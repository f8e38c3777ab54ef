"""The byte path of an import, knowing nothing of jobs, the catalog, HTTP or metrics
(an import-linter contract holds it to that): the buffer ring that receives a file's
bytes in place (:mod:`~osdepot.ingest.receiver`), and the lanes that write and hash each
buffer in worker threads (:mod:`~osdepot.ingest.lanes`). The import service owns the
rest: the job, size and checksum rules, progress, metrics and the messages."""
