"""``POST /api/imports``: validate an uploaded GIS file, and load it when an admin asks."""

from __future__ import annotations

import hmac
import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Header, UploadFile
from fastapi.responses import JSONResponse

from api.deps import SessionDep, SettingsDep
from geo.errors import Forbidden, InvalidInput, Unauthenticated
from geo.ingest.commit import ImportRequest, run_import
from geo.ingest.fields import FieldMap, Kind
from geo.settings import Settings

router = APIRouter(tags=["imports"])

Option = Annotated[str | None, Form()]


def require_admin(settings: Settings, authorization: str | None) -> None:
    """A bearer token equal to ``GRIDMAP_ADMIN_TOKEN`` (until roles arrive)."""
    if not settings.admin_token:
        raise Forbidden("committing imports is disabled: no admin token is configured",
                        fix="set GRIDMAP_ADMIN_TOKEN on the server")
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("committing an import needs the admin token",
                              field="Authorization", fix="send Authorization: Bearer <token>")
    if not hmac.compare_digest(token.encode(), settings.admin_token.encode()):
        raise Forbidden("the admin token is not valid", field="Authorization")


@router.post("/api/imports")
def create_import(
    session: SessionDep, settings: SettingsDep,
    file: Annotated[UploadFile, File(description="GeoJSON, Shapefile .zip, GeoPackage, KML")],
    kind: Annotated[Kind, Form()],
    layer: Option = None, crs: Option = None, encoding: Option = None,
    id_field: Option = None, name_field: Option = None, parent_field: Option = None,
    height_field: Option = None, floors_field: Option = None, use_field: Option = None,
    address_field: Option = None, kind_field: Option = None, officer_field: Option = None,
    phone_field: Option = None,
    street: Annotated[str | None, Form(pattern=r"^\d{9}$")] = None,
    generation: Annotated[int | None, Form(ge=1)] = None,
    commit: Annotated[bool, Form()] = False,
    authorization: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    """Validate the file against the registry and return the report; with ``commit=true``
    (admins only) load it, all or nothing. A commit refused for errors is a 422 carrying
    the same report."""
    if commit:
        require_admin(settings, authorization)
    fields = FieldMap(id_field=id_field, name_field=name_field, parent_field=parent_field,
                      height_field=height_field, floors_field=floors_field,
                      use_field=use_field, address_field=address_field, kind_field=kind_field,
                      officer_field=officer_field, phone_field=phone_field)
    with tempfile.TemporaryDirectory(prefix="gridmap-import-") as folder:
        path = _save(file, Path(folder))
        result = run_import(session, ImportRequest(
            kind=kind, path=path, street_code=street or settings.street_code, layer=layer,
            crs=crs, encoding=encoding, fields=fields, generation=generation, commit=commit))
    body: dict[str, Any] = result.to_json()
    if commit and not result.committed:
        raise InvalidInput(f"nothing loaded: {result.report.summary()}", field="file",
                           fix="fix the errors listed in report and upload again",
                           report=body["report"])
    return JSONResponse(body)


def _save(upload: UploadFile, folder: Path) -> Path:
    name = Path(upload.filename or "upload").name
    if not name or name.startswith("."):
        raise InvalidInput("the upload has no usable file name", field="file",
                           fix="send the file with its name and extension")
    path = folder / name
    with path.open("wb") as out:
        shutil.copyfileobj(upload.file, out)
    return path
