"""An uploaded file of bars, from whichever way a client sends it: the raw body with
its own content type (`curl --data-binary`), or a form with a file field (`curl -F`,
a browser's file input)."""

from __future__ import annotations

from pathlib import PurePath

from fastapi import Request
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from shared.contracts.market_data import TableFormat
from shared.errors import InvalidInput, UnsupportedMediaType

__all__ = ["ACCEPTED_MEDIA_TYPES", "uploaded_table"]

_CSV_TYPES = {"text/csv", "application/csv", "text/plain"}
_PARQUET_TYPES = {"application/vnd.apache.parquet", "application/x-parquet"}
_FORM = "multipart/form-data"
# Sent by tools that do not know what a file holds: Parquet files say so in their first bytes.
_UNKNOWN = {"", "application/octet-stream"}
_PARQUET_MAGIC = b"PAR1"
_PARQUET_SUFFIXES = {".parquet", ".pq"}
ACCEPTED_MEDIA_TYPES = sorted(_CSV_TYPES | _PARQUET_TYPES | {_FORM, "application/octet-stream"})


async def uploaded_table(request: Request) -> tuple[bytes, TableFormat]:
    """The file's bytes and format; UnsupportedMediaType for a body of another kind,
    InvalidInput for a form without exactly one file in it."""
    media_type = _media_type(request.headers.get("content-type"))
    if media_type == _FORM:
        return await _form_file(request)
    content = await request.body()
    return content, _format_of(media_type, content, name="")


async def _form_file(request: Request) -> tuple[bytes, TableFormat]:
    try:
        form = await request.form(max_files=1, max_fields=10)
    except HTTPException as unreadable:  # the framework's verdict on a broken form
        raise InvalidInput.at("file", f"the form could not be read: {unreadable.detail}") from None
    try:
        files = [value for value in form.values() if isinstance(value, UploadFile)]
        if len(files) != 1:
            raise InvalidInput.at(
                "file", "the form must hold one file, e.g. curl -F file=@prices.csv"
            )
        [upload] = files
        content = await upload.read()
        media_type = _media_type(upload.content_type)
        return content, _format_of(media_type, content, name=upload.filename or "")
    finally:
        await form.close()


def _format_of(media_type: str, content: bytes, name: str) -> TableFormat:
    if media_type in _PARQUET_TYPES:
        return TableFormat.PARQUET
    if media_type in _CSV_TYPES:
        return TableFormat.CSV
    if media_type in _UNKNOWN:
        parquet = content.startswith(_PARQUET_MAGIC) or PurePath(name).suffix in _PARQUET_SUFFIXES
        return TableFormat.PARQUET if parquet else TableFormat.CSV
    raise UnsupportedMediaType(
        f"cannot read a {media_type} body; send the file as one of: "
        f"{', '.join(ACCEPTED_MEDIA_TYPES)}"
    )


def _media_type(header: str | None) -> str:
    return (header or "").split(";")[0].strip().lower()
