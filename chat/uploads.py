"""Attachments (SPEC section 13): an uploaded file, its type read from its bytes, an image
re-encoded without its metadata and given a thumbnail, kept through Django's storage API
(the "attachments" alias). A send attaches uploads to its message (chat/sending.py); a
tombstone and the sweep of uploads no message took remove them, bytes included.

What a download may see is chat.selectors.upload_for_download's rule.
"""

from __future__ import annotations

import io
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import timedelta

import magic
from django.conf import settings
from django.core.files.base import ContentFile, File
from django.core.files.storage import Storage, storages
from django.db import transaction
from django.db.models import Sum
from django.urls import get_script_prefix, reverse
from django.utils import timezone
from PIL import Image, ImageOps, UnidentifiedImageError

from accounts.models import User
from messaging_site.converters import MAX_ID
from messaging_site.errors import DomainError, Invalid, NotFound
from messaging_site.text import character_problem, human_size

from .models import Upload

__all__ = [
    "IMAGE_TYPES",
    "MAX_ATTACHMENTS",
    "TooLarge",
    "attachment_shape",
    "clean_attachment_ids",
    "clean_file_name",
    "discard",
    "storage",
    "sweep",
    "upload_create",
    "upload_delete",
]

# The images that are shown as images (inline, with a thumbnail), by the type their bytes
# say, with Pillow's name for the format. Anything else, SVG included (it may hold
# scripts), is downloaded as a file.
IMAGE_TYPES = {"image/png": "PNG", "image/jpeg": "JPEG", "image/gif": "GIF", "image/webp": "WEBP"}
MAX_ATTACHMENTS = 10
# Within a bounding box of this many pixels, twice the size the web UI shows them at.
THUMBNAIL_SIZE = (480, 480)
# libmagic's tests look at the start of a file; office formats need the first zip entry.
SNIFF_BYTES = 256 * 1024
OCTET_STREAM = "application/octet-stream"
MAX_NAME_LENGTH = 255
# An animation's frames: more than any GIF people send, far fewer than one can hold.
MAX_FRAMES = 1000


class TooLarge(DomainError):
    code = "too_large"
    status_code = 413
    default_message = "The file is too large."


def storage() -> Storage:
    return storages["attachments"]


def clean_file_name(name: object) -> str:
    """The name the uploader's device gave, as a name only: no folders, no control
    characters, at most 255 characters with its extension kept."""
    text = name if isinstance(name, str) else ""
    text = text.replace("\\", "/").rsplit("/", 1)[-1]
    text = "".join(
        " " if unicodedata.category(c)[0] in "CZ" and c != " " else c
        for c in text
        if character_problem(c) is None
    ).strip(" .")
    if not text:
        return "file"
    if len(text) > MAX_NAME_LENGTH:
        stem, dot, extension = text.rpartition(".")
        if dot and 0 < len(extension) <= 16:
            text = stem[: MAX_NAME_LENGTH - len(extension) - 1] + "." + extension
        else:
            text = text[:MAX_NAME_LENGTH]
    return text


def clean_attachment_ids(value: object) -> list[int]:
    """A send's `attachments`: at most MAX_ATTACHMENTS distinct upload ids, in order."""
    if value is None:
        return []
    problem = f"A list of at most {MAX_ATTACHMENTS} distinct upload ids."
    if not isinstance(value, list) or len(value) > MAX_ATTACHMENTS:
        raise Invalid(fields={"attachments": [problem]})
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int) or not 1 <= item <= MAX_ID:
            raise Invalid(fields={"attachments": [problem]})
    if len(set(value)) != len(value):
        raise Invalid(fields={"attachments": [problem]})
    return list(value)


def _path(name: str, upload_id: int) -> str:
    """The path of one of an upload's addresses, from the site's root: it is stored with
    the message, so it must not depend on the request that happened to build it."""
    return "/" + reverse(name, args=[upload_id]).removeprefix(get_script_prefix())


def attachment_shape(upload: Upload) -> dict:
    """An attachment as messages carry it (SPEC section 13), REST and WebSocket alike."""
    return {
        "id": upload.pk,
        "name": upload.name,
        "size": upload.size,
        "content_type": upload.content_type,
        "url": _path("upload-file", upload.pk),
        "thumbnail_url": _path("upload-thumbnail", upload.pk) if upload.thumbnail else None,
        "width": upload.width,
        "height": upload.height,
    }


@dataclass(frozen=True)
class _Image:
    data: bytes
    thumbnail: bytes
    width: int
    height: int


def upload_create(*, uploader: User, file: File) -> Upload:
    """Keep a file for `uploader` to attach to a message. Raises TooLarge over
    UPLOAD_MAX_BYTES, or when the uploader's files not yet sent would pass
    UPLOAD_PENDING_MAX_BYTES; Invalid for an empty file or an image of more than
    UPLOAD_MAX_PIXELS. Nothing is kept when it raises."""
    size = file.size or 0
    if size > settings.UPLOAD_MAX_BYTES:
        raise TooLarge(f"A file may be at most {human_size(settings.UPLOAD_MAX_BYTES)}.")
    if size == 0:
        raise Invalid(fields={"file": ["The file is empty."]})
    pending = (
        Upload.objects.filter(uploader=uploader, message__isnull=True).aggregate(total=Sum("size"))[
            "total"
        ]
        or 0
    )
    if pending + size > settings.UPLOAD_PENDING_MAX_BYTES:
        raise TooLarge(
            f"Your files not yet sent come to {human_size(pending)}; at most "
            f"{human_size(settings.UPLOAD_PENDING_MAX_BYTES)} may wait. Send or remove some."
        )
    file.seek(0)
    head = file.read(SNIFF_BYTES)
    file.seek(0)
    content_type = magic.from_buffer(head, mime=True) or OCTET_STREAM
    image = None
    if content_type in IMAGE_TYPES:
        image = _image(file, IMAGE_TYPES[content_type])
        if image is None:
            # It begins as an image does but does not decode as one: not shown as one.
            content_type = OCTET_STREAM
    store = storage()
    key = _key()
    saved: list[str] = []
    try:
        if image is not None:
            saved.append(store.save(key, ContentFile(image.data)))
            saved.append(store.save(f"{key}-thumbnail.webp", ContentFile(image.thumbnail)))
            size = len(image.data)
        else:
            file.seek(0)
            saved.append(store.save(key, file))
        return Upload.objects.create(
            uploader=uploader,
            name=clean_file_name(file.name),
            size=size,
            content_type=content_type,
            file=saved[0],
            thumbnail=saved[1] if image is not None else "",
            width=image.width if image is not None else None,
            height=image.height if image is not None else None,
        )
    except BaseException:
        for name in saved:
            store.delete(name)
        raise


def _key() -> str:
    """A new, unguessable storage name, in a folder per month."""
    return f"{timezone.now():%Y/%m}/{secrets.token_urlsafe(18)}"


# What Pillow raises for bytes it cannot decode, truncated ones included.
_UNDECODABLE = (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError)


def _image(file: File, format_name: str) -> _Image | None:
    """The image re-encoded in its own format without its metadata (EXIF, XMP, comments,
    text chunks; the colour profile stays) and upright, and its thumbnail; None when the
    bytes are not an image of that format."""
    file.seek(0)
    try:
        with Image.open(file, formats=[format_name]) as original:
            frames = _frames(original)
            if original.width * original.height * frames > settings.UPLOAD_MAX_PIXELS:
                raise Invalid(
                    fields={
                        "file": [
                            f"An image may have at most {settings.UPLOAD_MAX_PIXELS:,} "
                            "pixels (all its frames together)."
                        ]
                    }
                )
            original.load()
            # A JPEG of several pictures (a camera's MPO) keeps its first: Pillow writes
            # JPEG one picture at a time.
            return _reencode(original, format_name, animated=frames > 1 and format_name != "JPEG")
    except Image.DecompressionBombError:
        raise Invalid(fields={"file": ["This image is too large to process."]}) from None
    except _UNDECODABLE:
        return None


def _frames(image: Image.Image) -> int:
    """How many frames, counted up to MAX_FRAMES only: Pillow's own count walks every
    frame of the file, and a small GIF can hold a million."""
    if not getattr(image, "is_animated", False):
        return 1
    count = 1
    try:
        while count <= MAX_FRAMES:
            image.seek(count)
            count += 1
    except EOFError:
        pass
    image.seek(0)
    if count > MAX_FRAMES:
        raise Invalid(fields={"file": [f"An animation may have at most {MAX_FRAMES} frames."]})
    return count


def _reencode(original: Image.Image, format_name: str, *, animated: bool) -> _Image:
    # Pillow writes metadata only when asked, except for what it carries over from the
    # file it read (a JPEG's comment, an XMP packet): those are cleared explicitly.
    options: dict = {"format": format_name, "exif": b"", "comment": b"", "xmp": b""}
    if original.info.get("icc_profile"):
        options["icc_profile"] = original.info["icc_profile"]
    orientation = original.getexif().get(0x0112, 1)
    if animated:
        # Every frame, with its timing; an animation's orientation tag is rare and ignored.
        upright = original
        options["save_all"] = True
        if "loop" in original.info:
            options["loop"] = original.info["loop"]
    elif orientation not in (1, None):
        # The pixels turned as the orientation tag said, since the tag goes with the EXIF.
        upright = ImageOps.exif_transpose(original)
    else:
        upright = original
    if format_name == "JPEG":
        if upright is original:
            # The same quantisation: no loss beyond rounding.
            options.update(quality="keep", subsampling="keep")
        else:
            options["quality"] = 90
    elif format_name == "WEBP":
        options["quality"] = 90
    data = io.BytesIO()
    upright.save(data, **options)

    upright.seek(0)
    first = upright.convert("RGBA" if _has_alpha(upright) else "RGB")
    first.thumbnail(THUMBNAIL_SIZE)
    thumbnail = io.BytesIO()
    first.save(thumbnail, format="WEBP", quality=80, method=4)
    return _Image(
        data=data.getvalue(),
        thumbnail=thumbnail.getvalue(),
        width=upright.width,
        height=upright.height,
    )


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info


# --- removal ------------------------------------------------------------------------------


def upload_delete(*, uploader: User, upload_id: int) -> None:
    """The uploader takes back a file no message carries yet, bytes included (after
    commit). NotFound for anything else: someone else's, or one already sent (deleting
    its message is what removes that)."""
    with transaction.atomic():
        names = _delete(
            Upload.objects.filter(pk=upload_id, uploader=uploader, message__isnull=True)
        )
        if not names:
            raise NotFound("No such file waiting to be sent.")
        transaction.on_commit(lambda: _remove_files(names))


def discard(*, message_id: int) -> None:
    """A tombstone's: the message's uploads go, their bytes after commit."""
    names = _delete(Upload.objects.filter(message_id=message_id))
    if names:
        transaction.on_commit(lambda: _remove_files(names))


def sweep() -> int:
    """Uploads no message took within UPLOAD_UNATTACHED_SECONDS go, bytes included.
    Returns how many. A send attaching one at the same moment locks it first
    (chat/sending.py): either the send has it, or the sweep does and the send is refused."""
    cutoff = timezone.now() - timedelta(seconds=settings.UPLOAD_UNATTACHED_SECONDS)
    with transaction.atomic():
        names = _delete(Upload.objects.filter(message__isnull=True, created_at__lt=cutoff))
        transaction.on_commit(lambda: _remove_files(names))
    return len(names)


def _delete(uploads) -> list[str]:
    rows = list(uploads.select_for_update().values_list("pk", "file", "thumbnail"))
    if not rows:
        return []
    Upload.objects.filter(pk__in=[pk for pk, _, _ in rows]).delete()
    return [name for _, file, thumbnail in rows for name in (file, thumbnail) if name]


def _remove_files(names: list[str]) -> None:
    store = storage()
    for name in names:
        store.delete(name)
