"""The FastAPI app: JSON API under /api (OpenAPI at /docs) and the web page at /.

The index and model load once per process. Every error is a JSON `{"error": ...}`; a client never sees a
traceback, and the server only opens files that the index itself recorded (never a client path).
"""


import logging
import tempfile
from pathlib import Path
from typing import Any

from vsearch.serve.limits import MAX_PIXELS, MAX_UPLOAD_BYTES, UploadError, check_photo

_logger = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"


def create_app(index_dir: "str | Path", *, device: str | None = None, max_upload_bytes: int = MAX_UPLOAD_BYTES,
               max_pixels: int = MAX_PIXELS, cors_origins: list[str] | None = None) -> Any:
    """A FastAPI app over the index at `index_dir` (raises the index's own errors when it cannot be opened)."""
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import FileResponse, JSONResponse
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException

    from vsearch.core.errors import BadImageError, IndexMissingError, UnknownProductError, VsearchError
    from vsearch.serve.live import LiveIndex
    from vsearch.serve.routes import filter_values, search_request

    live = LiveIndex(index_dir, device=device)
    state: dict[str, Any] = {}
    app = FastAPI(title="vsearch", summary="Search a product catalogue by photo and text.")
    if cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=cors_origins, allow_methods=["GET", "POST"])

    def error(status: int, message: str) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status)

    @app.exception_handler(HTTPException)
    async def _http(_: Request, exc: HTTPException) -> JSONResponse:
        return error(exc.status_code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        return error(422, f"{where}: {first.get('msg', 'invalid request')}" if where else "invalid request")

    @app.exception_handler(UploadError)
    async def _upload(_: Request, exc: UploadError) -> JSONResponse:
        return error(exc.status, exc.message)

    @app.exception_handler(IndexMissingError)
    async def _missing(_: Request, exc: IndexMissingError) -> JSONResponse:
        return error(404, str(exc))

    @app.exception_handler(BadImageError)
    async def _bad_image(_: Request, exc: BadImageError) -> JSONResponse:
        return error(415, str(exc))

    @app.exception_handler(VsearchError)
    async def _vsearch(_: Request, exc: VsearchError) -> JSONResponse:
        return error(404 if isinstance(exc, UnknownProductError) else 400, str(exc))

    @app.exception_handler(Exception)
    async def _internal(_: Request, exc: Exception) -> JSONResponse:
        _logger.exception("request failed")
        return error(500, "internal error (see the server log)")

    async def photos_of(request: Request) -> list[tuple[str, bytes]]:
        form = await request.form()
        files = [f for f in form.getlist("photo") if hasattr(f, "read")]
        out = []
        for f in files:
            data = await f.read(max_upload_bytes + 1)  # type: ignore[union-attr]
            name = getattr(f, "filename", None) or "photo"
            check_photo(data, name, max_upload_bytes, max_pixels)
            out.append((name, data))
        return out

    def with_temp_files(photos: list[tuple[str, bytes]], fn: Any) -> Any:
        """Model work runs in the thread pool (callers), so one slow query never stalls the event loop."""
        with tempfile.TemporaryDirectory(prefix="vsearch-upload-") as tmp:
            paths = []
            for i, (_, data) in enumerate(photos):
                path = Path(tmp) / f"upload{i}"
                path.write_bytes(data)
                paths.append(path)
            return fn(paths)

    @app.get("/api/health")
    def health() -> dict[str, Any]:
        """Model, index generation and product count of the state being served."""
        s = live.get()
        return {"status": "ok", "model": s.manifest.model, "generation": s.store.generation(),
                "products": s.store.product_count(), "index": str(live.index_dir)}

    @app.post("/api/search")
    async def search(request: Request) -> dict[str, Any]:
        """Multipart `photo` (one or several photos of one product, optional `k`, `where`), or JSON
        `{"text"|"like", "k", "where"}`; answers like `vsearch query --json`."""
        if request.headers.get("content-type", "").startswith("multipart/"):
            photos = await photos_of(request)
            form = await request.form()
            body = {"k": form.get("k", 10), "where": form.getlist("where")}
            if not photos:
                raise UploadError(422, "photo: no photo in the upload")
            return await run_in_threadpool(with_temp_files, photos,
                                           lambda paths: search_request(live.get(), body, paths))
        try:
            body = await request.json()
        except ValueError:
            raise UploadError(422, "body: send JSON {\"text\": ...} or {\"like\": ...}, or a multipart photo") from None
        return await run_in_threadpool(search_request, live.get(), body, None)

    @app.post("/api/tag")
    async def tag(request: Request) -> dict[str, Any]:
        """Multipart `photo` -> attributes with probabilities and tags (as `vsearch tag --json`)."""
        photos = await photos_of(request)
        if not photos:
            raise UploadError(422, "photo: no photo in the upload")
        if "tagger" not in state:
            from vsearch.tags.tagger import Tagger

            state["tagger"] = Tagger(live.index_dir)
        tagger = state["tagger"]
        results = await run_in_threadpool(with_temp_files, photos,
                                          lambda paths: tagger.tag_photos([str(p) for p in paths]))
        for (name, _), result in zip(photos, results):
            result["photo"] = name
        return {"results": results}

    @app.get("/api/products/{product_id}")
    def product(product_id: str) -> dict[str, Any]:
        """An indexed product's metadata."""
        meta = live.get().store.get_product(product_id)
        if meta is None:
            raise HTTPException(404, f"product '{product_id}' is not in the index")
        return {"id": product_id, **meta}

    @app.get("/api/products/{product_id}/image")
    def product_image(product_id: str) -> FileResponse:
        """The photo the index recorded for a product (a path from the build, never from the client)."""
        s = live.get()
        rows = s.store.product_rows(product_id, "image")
        sources = [p for p in s.store.row_sources(rows) if p] if rows else []
        if not sources or not Path(sources[0]).is_file():
            raise HTTPException(404, f"no photo of product '{product_id}' in the index")
        return FileResponse(sources[0])

    @app.get("/api/columns")
    def columns() -> dict[str, Any]:
        """Metadata columns and their most common values, for the page's filters."""
        s = live.get()
        key = (id(s), s.store.generation())
        if state.get("columns_key") != key:
            state["columns"], state["columns_key"] = filter_values(s), key
        return {"columns": state["columns"]}

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    app.state.live = live
    return app
