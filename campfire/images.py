"""Image work with Pillow, run in FileStore's image threads: thumbnails and avatars.

Every decode first checks the pixel count against the limit (the header alone says it), so a
small file that would inflate to gigabytes (a decompression bomb) is refused before decoding.
Outputs are new WebP files with no metadata: EXIF (GPS position, camera) never leaves.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from campfire import errors
from campfire.errors import CampfireError
from campfire.filestore import fsync_file

# The types shown as images in the client (and the only ones given thumbnails).
IMAGE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp"}
PILLOW_FORMATS = {"PNG", "JPEG", "GIF", "WEBP"}
THUMBNAIL_SIZE = 400  # longest side, in pixels
AVATAR_SIZE = 256
WEBP_QUALITY = 82
# EXIF orientations that turn the picture a quarter: width and height swap when shown.
QUARTER_TURNS = {5, 6, 7, 8}


class NotAnImage(Exception):
    """Pillow cannot read the file as one of the image types we show."""


@dataclass(frozen=True)
class Thumbnail:
    """The picture's size as shown (orientation applied)."""

    width: int
    height: int


def too_large(width: int, height: int, limit: int) -> CampfireError:
    """413 for an image with more pixels than the server decodes."""
    return CampfireError(
        errors.IMAGE_TOO_LARGE,
        f"The image is {width} x {height} pixels; the server decodes at most {limit:,} pixels",
        413,
    )


def _open_checked(source: Path, limit: int) -> Image.Image:
    """Open (header only) an image of a type we show, refusing one over the pixel limit."""
    try:
        with warnings.catch_warnings():
            # Our own limit decides; Pillow's warning and error at its limit must not.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(source)
    except Image.DecompressionBombError:  # past Pillow's own limit: certainly past ours
        raise CampfireError(
            errors.IMAGE_TOO_LARGE,
            f"The image has more pixels than the server decodes ({limit:,})",
            413,
        ) from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise NotAnImage(str(exc)) from None
    if image.format not in PILLOW_FORMATS:
        image.close()
        raise NotAnImage(f"not a shown image type: {image.format}")
    width, height = image.size
    if width * height > limit or width <= 0 or height <= 0:
        image.close()
        raise too_large(width, height, limit)
    return image


def _oriented(image: Image.Image, box: int) -> tuple[Image.Image, int, int]:
    """The first frame, decoded at a reduced size where the format allows, turned upright;
    with the full picture's upright width and height."""
    width, height = image.size
    orientation = image.getexif().get(0x0112)
    if orientation in QUARTER_TURNS:
        width, height = height, width
    image.draft("RGB", (box * 2, box * 2))  # JPEG decodes at 1/2..1/8 scale: far less work
    upright = ImageOps.exif_transpose(image)
    return upright, width, height


def _save_webp(image: Image.Image, target: Path) -> None:
    """Save as WebP with nothing but pixels (no EXIF, XMP or ICC), then fsync."""
    mode = "RGBA" if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info else "RGB"
    clean = image.convert(mode)
    clean.info = {}
    clean.save(target, "WEBP", quality=WEBP_QUALITY, method=4)
    fsync_file(target)


def make_thumbnail(source: Path, target: Path, limit: int) -> Thumbnail:
    """Write a thumbnail of `source` (longest side THUMBNAIL_SIZE) to `target`."""
    with _open_checked(source, limit) as image:
        try:
            upright, width, height = _oriented(image, THUMBNAIL_SIZE)
            upright.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE), Image.Resampling.LANCZOS)
            _save_webp(upright, target)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
            if isinstance(exc, OSError) and exc.errno is not None:
                raise  # a disk error, not a broken image
            raise NotAnImage(str(exc)) from None
    return Thumbnail(width, height)


def make_avatar(source: Path, target: Path, limit: int) -> None:
    """Write a square avatar of `source` (centre crop, AVATAR_SIZE pixels) to `target`."""
    with _open_checked(source, limit) as image:
        try:
            upright, _, _ = _oriented(image, AVATAR_SIZE)
            square = ImageOps.fit(upright, (AVATAR_SIZE, AVATAR_SIZE), Image.Resampling.LANCZOS)
            _save_webp(square, target)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
            if isinstance(exc, OSError) and exc.errno is not None:
                raise
            raise NotAnImage(str(exc)) from None
