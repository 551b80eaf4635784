"""Find the layer GDAL should open in a file, folder or zip, and the encoding of its table."""

from __future__ import annotations

import logging
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pyogrio

from geo.errors import InvalidInput

logger = logging.getLogger(__name__)

FORMATS = {".geojson": "GeoJSON", ".json": "GeoJSON", ".shp": "Shapefile", ".zip": "Shapefile",
           ".gpkg": "GeoPackage", ".kml": "KML", ".kmz": "KML"}
"""File extensions read_layer accepts, and the format each names."""
_ZIPPABLE = (".shp", ".gpkg", ".geojson", ".json", ".kml")
_LISTED = 30  # names shown when listing what a folder or zip holds
_CHUNK_BYTES = 1 << 20  # zip members are checked a megabyte at a time


@dataclass(frozen=True, slots=True)
class LayerSource:
    """Where a layer is read from, as resolved by :func:`resolve_source`.

    Attributes
    ----------
    path : Path
        The file or folder the caller named.
    gdal_path : str
        What GDAL opens: a file path, or a ``/vsizip/`` path into a zip.
    format : str
        ``GeoJSON``, ``Shapefile``, ``GeoPackage`` or ``KML``.
    layer : str or None
        The layer to read; None when the source holds a single layer.
    encoding : str or None
        Encoding to read the attribute table with; None lets GDAL decide (a Shapefile's
        ``.cpg`` or its DBF code page, UTF-8 for the other formats).
    """

    path: Path
    gdal_path: str
    format: str
    layer: str | None = None
    encoding: str | None = None

    @property
    def name(self) -> str:
        """The file's name for messages, with the member for a file inside a zip."""
        for prefix, joiner in ((f"/vsizip/{self.path.resolve()}/", "!"), (f"{self.path}/", "/")):
            if self.gdal_path.startswith(prefix):
                return f"{self.path.name}{joiner}{self.gdal_path[len(prefix):]}"
        return self.path.name


def resolve_source(path: Path, *, layer: str | None = None,
                   encoding: str | None = None) -> LayerSource:
    """Resolve ``path`` (a file, a folder holding a Shapefile, or a zip) to one readable layer.

    Parameters
    ----------
    path : Path
        The file or folder to import.
    layer : str, optional
        The layer to read (GeoPackage, KML) or the Shapefile to take (its name without
        ``.shp``) from a folder or zip holding several.
    encoding : str, optional
        Attribute table encoding, overriding the file's own (e.g. ``GBK``).

    Raises
    ------
    InvalidInput
        Missing path, unsupported extension, a folder or zip with no layer file, an
        incomplete or non-UTF-8 Shapefile with no ``.cpg``, an unknown or ambiguous layer.
    """
    if not path.exists():
        raise InvalidInput(f"{path} does not exist.", field="file",
                           fix="Check the path and the file name.")
    if path.is_dir():
        names = sorted(p.name for p in path.iterdir() if p.is_file())
        return _shapefile_source(path, names, lambda n: (path / n).read_bytes(), str(path),
                                 layer=layer, encoding=encoding)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise InvalidInput(
            f"{path.name}: {path.suffix or 'no extension'} is not a supported format.",
            field="file", fix="Import a GeoJSON (.geojson/.json), Shapefile (.shp, a folder or "
                              "a .zip holding one), GeoPackage (.gpkg) or KML (.kml/.kmz) file.")
    if suffix == ".zip":
        return _zip_source(path, layer=layer, encoding=encoding)
    if suffix == ".shp":
        names = sorted(p.name for p in path.parent.iterdir()
                       if p.name.lower().startswith(path.stem.lower() + "."))
        return _shapefile_source(path, names, lambda n: (path.parent / n).read_bytes(),
                                 str(path.parent), layer=layer or path.stem, encoding=encoding)
    return _with_layer(LayerSource(path, str(path), FORMATS[suffix], layer, encoding))


def _zip_source(path: Path, *, layer: str | None, encoding: str | None) -> LayerSource:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as error:
        raise InvalidInput(f"{path.name} is not a readable zip file ({error}).", field="file",
                           fix="Zip the Shapefile's files again (.shp, .shx, .dbf, .prj, "
                               ".cpg) and retry.") from None
    with archive:
        names = [n for n in archive.namelist() if not n.endswith("/")]
        for name in names:
            _check_member(archive, name, path)
        prefix = f"/vsizip/{path.resolve()}"
        if any(n.lower().endswith(".shp") for n in names):
            return _shapefile_source(path, names, archive.read, prefix, layer=layer,
                                     encoding=encoding)
    others = [n for n in names if n.lower().endswith(_ZIPPABLE)]
    if len(others) == 1:
        fmt = FORMATS[PurePosixPath(others[0]).suffix.lower()]
        return _with_layer(LayerSource(path, f"{prefix}/{others[0]}", fmt, layer, encoding))
    raise InvalidInput(
        f"{path.name} holds no Shapefile (.shp){' and several layer files' if others else ''}; "
        f"it holds: {_listing(names)}.", field="file",
        fix="Zip a Shapefile with all its parts (.shp, .shx, .dbf, .prj, .cpg), or import the "
            "layer file itself.")


def _check_member(archive: zipfile.ZipFile, name: str, path: Path) -> None:
    """Read a zip member through, so zipfile checks its CRC: GDAL reads a damaged member as
    garbage without a word, and an encrypted one not at all."""
    try:
        with archive.open(name) as member:
            while member.read(_CHUNK_BYTES):
                pass
    except (OSError, EOFError, RuntimeError, NotImplementedError, zipfile.BadZipFile,
            zlib.error) as error:  # zipfile's ways of saying encrypted, corrupt, unsupported
        logger.debug("cannot read %s of %s", name, path, exc_info=error)
        raise InvalidInput(
            f"{path.name}: {name} cannot be read ({error}); the zip file is damaged or "
            "encrypted.", field="file",
            fix="Zip the files again, without a password, and retry (or import the folder "
                "holding them).") from None


def _shapefile_source(path: Path, names: list[str], read: Callable[[str], bytes],
                      prefix: str, *, layer: str | None, encoding: str | None) -> LayerSource:
    """Pick the .shp among ``names`` (a folder's or a zip's), check its parts and encoding."""
    shps = [n for n in names if n.lower().endswith(".shp")]
    if not shps:
        raise InvalidInput(f"{path.name} holds no Shapefile (.shp); it holds: {_listing(names)}.",
                           field="file", fix="Point at the folder holding the .shp, or at the "
                                             "file itself.")
    stems = [n[:-4] for n in shps]
    if layer is not None:
        shps = [s for s, stem in zip(shps, stems, strict=True)
                if layer in (stem, PurePosixPath(stem).name)]
        if not shps:
            raise _unknown_layer(path.name, layer, [PurePosixPath(s).name for s in stems])
    if len(shps) > 1:
        raise InvalidInput(
            f"{path.name} holds {len(shps)} Shapefiles: "
            f"{', '.join(PurePosixPath(s).name for s in stems)}.", field="layer",
            fix="Choose one with --layer NAME (the file name without .shp).")
    shp = shps[0]
    parts = {n[len(shp) - 4:].lower(): n for n in names
             if n.lower().startswith(shp[:-4].lower() + ".") and len(n) == len(shp)}
    missing = [ext for ext in (".shx", ".dbf") if ext not in parts]
    if missing:
        raise InvalidInput(
            f"{path.name}: the Shapefile {PurePosixPath(shp).name} is incomplete, "
            f"{' and '.join(shp[:-4] + ext for ext in missing)} missing.", field="file",
            fix="A Shapefile is several files: import the .shp together with its .shx, .dbf, "
                ".prj and .cpg (zip them, or point at their folder).")
    if encoding is None and ".cpg" not in parts:
        encoding = _dbf_encoding(read(parts[".dbf"]), f"{path.name}: {PurePosixPath(shp).name}")
    return LayerSource(path, f"{prefix}/{shp}", "Shapefile", None, encoding)


def _listing(names: list[str]) -> str:
    if not names:
        return "nothing"
    shown = ", ".join(names[:_LISTED])
    return shown + (f" and {len(names) - _LISTED} more" if len(names) > _LISTED else "")


def _unknown_layer(name: str, layer: str, layers: list[str]) -> InvalidInput:
    return InvalidInput(f"{name} has no layer {layer!r}; its layers are: {', '.join(layers)}.",
                        field="layer", fix="Pass one of those names with --layer.")


def _with_layer(source: LayerSource) -> LayerSource:
    """Check the layer exists; choose it when the file has only one."""
    try:
        listed = pyogrio.list_layers(source.gdal_path)
    except Exception as error:  # GDAL's errors come in several classes; all mean "unreadable"
        raise unreadable(source, error) from None
    layers = [str(row[0]) for row in listed]
    if source.layer is not None:
        if source.layer not in layers:
            raise _unknown_layer(source.name, source.layer, layers)
        return source
    if len(layers) > 1:
        kinds = ", ".join(f"{row[0]} ({row[1]})" for row in listed)
        raise InvalidInput(f"{source.name} holds {len(layers)} layers: {kinds}.", field="layer",
                           fix="Choose one with --layer NAME.")
    if not layers:
        raise InvalidInput(f"{source.name} holds no layers.", field="file",
                           fix="Export the features into the file and retry.")
    return LayerSource(source.path, source.gdal_path, source.format, layers[0], source.encoding)


def unreadable(source: LayerSource, error: BaseException) -> InvalidInput:
    """Turn a GDAL failure into a message naming the file, with GDAL's reason in one line."""
    logger.debug("GDAL cannot read %s", source.gdal_path, exc_info=error)
    reason = str(error).split("; It might help")[0].strip().rstrip(".")
    reason = reason.replace(source.gdal_path, source.name).replace(str(source.path), source.name)
    reason = reason.replace("Failed to read GeoJSON data; ", "")
    if source.format == "GeoJSON":
        return InvalidInput(
            f"{source.name} is not valid GeoJSON ({reason}): the file looks truncated or "
            "garbled.", field="file",
            fix="Export or download the file again completely and retry.")
    return InvalidInput(f"{source.name} cannot be read as {source.format} ({reason}).",
                        field="file", fix=f"Check the file is a complete {source.format}; "
                                          "export it again if it is damaged.")


def _dbf_encoding(dbf: bytes, name: str) -> str | None:
    """The encoding to read a .dbf that has no .cpg with; None lets GDAL decide.

    GDAL then trusts the DBF's code page byte, and takes ISO-8859-1 when it is unset, which
    turns GBK names into mojibake: refuse those rather than import garbage.
    """
    if len(dbf) < 32 or dbf[29] != 0:
        return None
    text = _dbf_text(dbf)
    try:
        text.decode("ascii")
        return None
    except UnicodeDecodeError:
        pass
    try:
        text.decode("utf-8")
        return "UTF-8"
    except UnicodeDecodeError:
        pass
    guess, sample = _guess_encoding(text)
    raise InvalidInput(
        f"{name}: the attribute table (.dbf) is not UTF-8 and there is no .cpg file saying "
        f"its encoding; it reads as {guess} ({sample!r}).", field="encoding",
        fix=f"Pass the encoding, e.g. --encoding {guess} (read_layer(..., encoding="
            f"{guess!r})), or put a .cpg file containing {guess} beside the .shp.")


def _dbf_text(dbf: bytes) -> bytes:
    """The field names and records of a .dbf: the parts that hold text."""
    header_length = int.from_bytes(dbf[8:10], "little")
    names = []
    for offset in range(32, header_length - 1, 32):
        if dbf[offset:offset + 1] == b"\r":  # end of the field descriptors
            break
        names.append(dbf[offset:offset + 11].rstrip(b"\0"))
    return b" ".join(names) + dbf[header_length:].rstrip(b"\x1a")


def _guess_encoding(text: bytes) -> tuple[str, str]:
    """Guess a Chinese encoding; returns it and a sample of the text decoded with it."""
    start = next(i for i, byte in enumerate(text) if byte >= 0x80)
    for encoding in ("GBK", "GB18030", "Big5"):
        try:
            decoded = text.decode(encoding)
        except UnicodeDecodeError:
            continue
        at = len(text[:start].decode("ascii", errors="replace"))
        return encoding, decoded[at:at + 12].strip()
    return "GBK", text[start:start + 12].decode("gbk", errors="replace")
