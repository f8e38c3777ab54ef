"""The byte path of an import, knowing nothing of jobs, the catalog, HTTP or metrics:
so far the lanes that write and hash the upload buffers in worker threads. (The buffer
ring, the write and hash into a staging area and the size and checksum verification
move here next; they are still in ``services/uploads.py``.)"""
