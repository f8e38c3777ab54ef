"""An upload request's multipart/form-data body, read as the parts arrive.

:class:`UploadForm` reads the body in three steps, which the upload route
(web/osimages.py) takes around the import it claims:

1. :meth:`~UploadForm.file_part` reads the form fields before the file and returns
   the file part's name once its data begins;
2. :meth:`~UploadForm.receive_file` hands the file's bytes to the import — read in
   place into its buffers where the body allows (web/body.py, ``receive_file``);
3. :meth:`~UploadForm.rest` reads the fields after the file up to the closing
   boundary, so a checksum sent after the file still counts.

Known fields (``checksumType``, ``checksumValue``) are kept, bounded in size; other
parts are skipped (pylxca sends a ``name`` part); a second ``uploadedfile`` part is
refused.
"""

from __future__ import annotations

from collections import deque

from osdepot.errors import error
from osdepot.messages import Messages
from osdepot.web.body import BodyReader, FileSink, receive_file
from osdepot.web.multipart import (
    MAX_FIELD_BYTES,
    Event,
    MultipartParser,
    PartData,
    PartEnd,
    PartStart,
)

#: the form fields an upload reads; other parts are skipped
UPLOAD_FIELDS = ("checksumType", "checksumValue")

#: the file part's name (the contract's, and every client's)
FILE_PART = "uploadedfile"

#: reads of a body outside the file part's data (part headers, form fields)
HEAD_READ = 64 * 1024


class UploadForm:
    """The parts of one upload body; ``fields`` holds the known fields read so far."""

    def __init__(self, reader: BodyReader, boundary: bytes, head_read: int = HEAD_READ) -> None:
        self._reader = reader
        self._parser = MultipartParser(boundary)
        self._events: deque[Event] = deque()
        self._head = memoryview(bytearray(head_read))
        self._ended = False
        self.fields: dict[str, str] = {}

    async def _read(self) -> bool:
        """Parse the next bytes of the body outside file data; False at its end."""
        if self._ended:
            return False
        data = self._head[: await self._reader.readinto(self._head, some=True)].tobytes()
        return self._feed(data)

    def _feed(self, data: bytes) -> bool:
        if not data:
            self._ended = True
            return False
        # Events hold views into ``data``; bytes objects keep them valid while queued.
        self._events.extend(self._parser.feed(data))
        return True

    async def _next(self) -> Event | None:
        while not self._events:
            if not await self._read():
                return None
        return self._events.popleft()

    async def _field(self, name: str) -> None:
        """The rest of a plain field's part."""
        value = bytearray()
        while True:
            ev = await self._next()
            if ev is None or isinstance(ev, PartStart):
                return  # the body ended (reported by the caller)
            if isinstance(ev, PartEnd):
                self.fields[name] = value.decode("utf-8", "replace").strip()
                return
            value += ev.data
            if len(value) > MAX_FIELD_BYTES:
                raise error(Messages.MALFORMED_BODY, detail=f"The form field {name} is too large.")

    async def _skip(self) -> None:
        while (ev := await self._next()) is not None and not isinstance(ev, PartEnd):
            pass

    async def _part(self, ev: PartStart) -> bool:
        """Read a part other than the file; True when ``ev`` starts the file part."""
        if ev.name == FILE_PART:
            return True
        if ev.filename is None and ev.name in UPLOAD_FIELDS:
            await self._field(ev.name)
        else:
            await self._skip()  # unknown parts are ignored (pylxca sends "name")
        return False

    async def file_part(self) -> str:
        """Read up to the start of the file part; the file name its client gave."""
        while (ev := await self._next()) is not None:
            if isinstance(ev, PartStart) and await self._part(ev):
                if ev.filename is None:
                    raise error(
                        Messages.MALFORMED_BODY, detail="The uploadedfile part has no file name."
                    )
                return ev.filename
        self._check_closed()
        raise error(Messages.MALFORMED_BODY, detail="The body has no part named uploadedfile.")

    async def receive_file(self, sink: FileSink) -> None:
        """Hand the file part's data to ``sink`` up to the end of the part."""
        while True:
            while self._events:
                ev = self._events.popleft()
                if isinstance(ev, PartEnd):
                    return
                if isinstance(ev, PartData):
                    await sink.write(ev.data)
            if self._ended:
                break
            if self._parser.in_data:
                # The file's bytes go into the sink's buffers in place (web/body.py).
                self._feed(await receive_file(self._reader, sink, self._parser.delimiter))
            else:
                await self._read()
        self._check_closed()
        raise error(Messages.MALFORMED_BODY, detail="The body has no part named uploadedfile.")

    @property
    def finished(self) -> bool:
        """Whether the closing boundary has been read."""
        return self._parser.finished

    async def rest(self) -> None:
        """Read the parts after the file up to the closing boundary."""
        while (ev := await self._next()) is not None:
            if isinstance(ev, PartStart) and await self._part(ev):
                raise error(
                    Messages.MALFORMED_BODY,
                    detail="The body holds more than one uploadedfile part.",
                )
        self._check_closed()

    def _check_closed(self) -> None:
        if not self._parser.finished:
            raise error(
                Messages.MALFORMED_BODY,
                detail="The body ended before the closing multipart boundary.",
            )
