"""The artifact store: one root URI (file:// or s3://) on fsspec, plus read-only https://.

Writes are atomic: a local file is written to a temporary name, fsynced and renamed into
place; an S3 object is written with one PUT, or, from twice the part size up, as a multipart
upload that S3 assembles only when every part has arrived (and aborts on failure). Readers
therefore never see half an artifact. Every S3 object carries its sha256 as user metadata
(`x-amz-meta-sha256`); reads of recorded artifacts check the bytes against the digest the
operator recorded (`read_verified`), whatever the store says about itself.
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import fsspec

from . import s3_client
from .errors import ArtifactMissing, ChecksumMismatch, ReadOnlySource, StoreUnavailable

DEFAULT_STORE = "file:///var/lib/mlops/store"
PART_SIZE_ENV = "MLOPS_S3_PART_SIZE_MIB"
DEFAULT_PART_SIZE_MIB = 64
MIN_PART_SIZE_MIB = 5  # S3's own floor for every part but the last
WRITABLE_SCHEMES = ("file", "s3")
READABLE_SCHEMES = ("file", "s3", "https")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def json_bytes(document: Any) -> bytes:
    """Canonical JSON: sorted keys, so equal documents have equal bytes (and checksums)."""
    return (json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode()


def scheme_of(uri: str) -> str:
    return urlsplit(uri).scheme or "file"


def s3_options_from_env(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """s3fs options from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / MLOPS_S3_ENDPOINT, with
    the timeouts and attempts of every call (artifacts/s3_client.py)."""
    env = os.environ if env is None else env
    options: dict[str, Any] = {"config_kwargs": s3_client.client_config(env)}
    if env.get("AWS_ACCESS_KEY_ID"):
        options["key"] = env["AWS_ACCESS_KEY_ID"]
    if env.get("AWS_SECRET_ACCESS_KEY"):
        options["secret"] = env["AWS_SECRET_ACCESS_KEY"]
    if env.get("MLOPS_S3_ENDPOINT"):
        options["endpoint_url"] = env["MLOPS_S3_ENDPOINT"]
    return options


def part_size_from_env(env: Mapping[str, str] | None = None) -> int:
    """The multipart part size in bytes, from MLOPS_S3_PART_SIZE_MIB (default 64 MiB)."""
    env = os.environ if env is None else env
    raw = env.get(PART_SIZE_ENV) or str(DEFAULT_PART_SIZE_MIB)
    try:
        mib = int(raw)
    except ValueError:
        raise ValueError(f"{PART_SIZE_ENV} must be a whole number of MiB, got {raw!r}") from None
    if mib < MIN_PART_SIZE_MIB:
        raise ValueError(f"{PART_SIZE_ENV} must be at least {MIN_PART_SIZE_MIB} (S3's minimum "
                         f"part size), got {mib}")  # fmt: skip
    return mib * 2**20


def url_to_fs(uri: str, storage_options: Mapping[str, Any] | None = None) -> tuple[Any, str]:
    """(filesystem, path) of any URI, with the store's S3 endpoint and credentials from the
    environment: what `fsspec.core.url_to_fs` gives, for code that opens URIs directly."""
    return filesystem(scheme_of(uri), storage_options), _fs_path(uri)


def filesystem(scheme: str, storage_options: Mapping[str, Any] | None = None) -> Any:
    """The fsspec filesystem for a scheme; s3fs and aiohttp are imported only when needed."""
    options = dict(storage_options or {})
    if scheme == "file":
        return fsspec.filesystem("file")
    if scheme == "s3":
        try:
            import s3fs  # noqa: F401
        except ImportError as err:
            raise StoreUnavailable(
                "s3:// needs the s3fs package, a dependency of mlops-operator that is "
                "missing from this environment (pip install s3fs)"
            ) from err
        merged = {**s3_options_from_env(), **options}
        return s3_client.bound(fsspec.filesystem("s3", **merged))
    if scheme in {"http", "https"}:
        try:
            return fsspec.filesystem(scheme, **options)
        except ImportError as err:
            raise StoreUnavailable(f"{scheme}:// needs aiohttp: {err}") from err
    raise StoreUnavailable(f"unsupported URI scheme {scheme!r}; use one of {READABLE_SCHEMES}")


def unreachable(error: BaseException, uri: str) -> StoreUnavailable | None:
    """StoreUnavailable, naming the URI and the endpoint, when `error` is a connection that
    could not be made or was lost (the OS's, or botocore's, which is no OSError); else None."""
    found = isinstance(error, ConnectionError | TimeoutError) or s3_client.is_transport_error(error)
    return StoreUnavailable(f"the store cannot be reached for {uri}: {error}") if found else None


def _unavailable(error: Exception, uri: str) -> Exception:
    return unreachable(error, uri) or error


def _fs_path(uri: str) -> str:
    parts = urlsplit(uri)
    if parts.scheme in {"", "file"}:
        return parts.path
    if parts.scheme == "s3":
        return f"{parts.netloc}{parts.path}"
    return uri  # http(s): fsspec takes the full URL


class Store:
    """An artifact store rooted at `root` (file:///path or s3://bucket/prefix).

    Paths given to the methods are either relative to the root (`datasets/ns/ds/...`)
    or absolute URIs; reading accepts https:// URIs too, writing only the root's scheme.
    """

    def __init__(
        self,
        root: str,
        storage_options: Mapping[str, Any] | None = None,
        part_size: int | None = None,
    ) -> None:
        if "://" not in root:
            root = Path(root).absolute().as_uri()
        scheme = scheme_of(root)
        if scheme not in WRITABLE_SCHEMES:
            raise ReadOnlySource(f"store root must be file:// or s3://, got {root!r}")
        self.root = root.rstrip("/")
        self.scheme = scheme
        self.storage_options = dict(storage_options or {})
        # S3 multipart: objects of at least twice this size go up in parts of this size.
        if part_size is None:
            part_size = part_size_from_env() if scheme == "s3" else DEFAULT_PART_SIZE_MIB * 2**20
        self.part_size = part_size
        if self.part_size < MIN_PART_SIZE_MIB * 2**20:
            raise ValueError(f"part_size must be at least {MIN_PART_SIZE_MIB} MiB")
        self._fs: Any = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Store:
        env = os.environ if env is None else env
        return cls(env.get("MLOPS_STORE") or DEFAULT_STORE)

    def __repr__(self) -> str:
        return f"Store({self.root!r})"

    @property
    def fs(self) -> Any:
        if self._fs is None:
            self._fs = filesystem(self.scheme, self.storage_options)
        return self._fs

    def uri(self, path: str) -> str:
        """The absolute URI of a path relative to the root (absolute URIs pass through)."""
        if "://" in path:
            return path
        clean = path.lstrip("/")
        if any(part in {"", ".", ".."} for part in clean.split("/")):
            raise ValueError(f"unsafe artifact path {path!r}")
        return f"{self.root}/{clean}"

    def _resolve(self, path: str) -> tuple[Any, str, str]:
        uri = self.uri(path)
        scheme = scheme_of(uri)
        fs = self.fs if scheme == self.scheme else filesystem(scheme, self.storage_options)
        return fs, _fs_path(uri), uri

    # --- writing -------------------------------------------------------------------------

    def write_bytes(self, path: str, data: bytes) -> tuple[str, str]:
        """Write atomically; returns (uri, sha256 of the data)."""
        uri = self.uri(path)
        scheme = scheme_of(uri)
        if scheme not in WRITABLE_SCHEMES or not uri.startswith(self.root + "/"):
            raise ReadOnlySource(f"cannot write {uri!r}: outside the store root {self.root!r}")
        fs_path = _fs_path(uri)
        digest = sha256_hex(data)
        try:
            if scheme == "file":
                _atomic_local_write(Path(fs_path), data)
            else:
                # One PUT, or a multipart upload completed only once every part is in: the
                # object appears whole or not at all.
                self.fs.pipe_file(
                    fs_path, data, chunksize=self.part_size, Metadata={"sha256": digest}
                )
        except Exception as err:  # an unreachable endpoint is StoreUnavailable, as on reads
            raise _unavailable(err, uri) from err
        return uri, digest

    def write_json(self, path: str, document: Any) -> tuple[str, str]:
        return self.write_bytes(path, json_bytes(document))

    # --- reading -------------------------------------------------------------------------

    def exists(self, path: str) -> bool:
        fs, fs_path, uri = self._resolve(path)
        try:
            return bool(fs.exists(fs_path))
        except FileNotFoundError:
            return False
        except Exception as err:
            raise _unavailable(err, uri) from err

    def read_bytes(self, path: str) -> bytes:
        fs, fs_path, uri = self._resolve(path)
        try:
            data: bytes = fs.cat_file(fs_path)
        except FileNotFoundError as err:
            raise ArtifactMissing(f"artifact {uri} does not exist") from err
        except IsADirectoryError as err:
            raise ArtifactMissing(f"artifact {uri} is a directory, not a file") from err
        except Exception as err:
            raise _unavailable(err, uri) from err
        return data

    def read_verified(self, path: str, sha256: str) -> bytes:
        """Read an immutable artifact and check it against the sha256 recorded for it."""
        data = self.read_bytes(path)
        actual = sha256_hex(data)
        if actual != sha256.lower():
            raise ChecksumMismatch(
                f"artifact {self.uri(path)} has sha256 {actual}, expected {sha256.lower()}: "
                "it was modified or replaced after it was recorded; refusing to use it"
            )
        return data

    def stored_sha256(self, path: str) -> str | None:
        """The sha256 an S3 object was written with (its user metadata); None on file://
        or for an object written by something else."""
        fs, fs_path, uri = self._resolve(path)
        if scheme_of(uri) != "s3":
            return None
        try:
            metadata = fs.metadata(fs_path)
        except FileNotFoundError as err:
            raise ArtifactMissing(f"artifact {uri} does not exist") from err
        except Exception as err:
            raise _unavailable(err, uri) from err
        value = metadata.get("sha256")
        return str(value) if value else None

    def read_json(self, path: str, sha256: str | None = None) -> Any:
        data = self.read_verified(path, sha256) if sha256 else self.read_bytes(path)
        return json.loads(data)

    def list(self, path: str) -> list[str]:
        """URIs of the files directly under a directory (empty if it does not exist)."""
        fs, fs_path, uri = self._resolve(path)
        try:
            entries = fs.ls(fs_path, detail=True)
        except FileNotFoundError:
            return []
        except Exception as err:
            raise _unavailable(err, uri) from err
        names = sorted(
            e["name"].rstrip("/").rsplit("/", 1)[-1] for e in entries if e.get("type") == "file"
        )
        return [f"{uri.rstrip('/')}/{name}" for name in names]

    # --- listing with detail, deleting (the store lifecycle: artifacts/lifecycle) ---------

    def list_detail(self, path: str) -> tuple[builtins.list[FileInfo], builtins.list[str]]:
        """The files (with size and modification time) and the subdirectory names directly
        under a directory: one LIST on S3. Both empty if it does not exist."""
        fs, fs_path, uri = self._resolve(path)
        try:
            entries = fs.ls(fs_path, detail=True)
        except FileNotFoundError:
            return [], []
        except Exception as err:
            raise _unavailable(err, uri) from err
        files: builtins.list[FileInfo] = []
        dirs: builtins.list[str] = []
        base = uri.rstrip("/")
        for entry in entries:
            name = str(entry["name"]).rstrip("/").rsplit("/", 1)[-1]
            if entry.get("type") == "directory":
                dirs.append(name)
            elif entry.get("type") == "file":
                files.append(FileInfo(f"{base}/{name}", name, int(entry.get("size") or 0),
                                      _modified(entry)))  # fmt: skip
        files.sort(key=lambda f: f.name)
        return files, sorted(dirs)

    def find(self, path: str) -> builtins.list[FileInfo]:
        """Every file under a directory, at any depth (empty if it does not exist)."""
        fs, fs_path, uri = self._resolve(path)
        try:
            found = fs.find(fs_path, detail=True)
        except FileNotFoundError:
            return []
        except Exception as err:
            raise _unavailable(err, uri) from err
        prefix = fs_path.rstrip("/") + "/"
        base = uri.rstrip("/")
        out = []
        for name, entry in found.items():
            rel = str(name)[len(prefix) :] if str(name).startswith(prefix) else str(name)
            out.append(FileInfo(f"{base}/{rel}", rel, int(entry.get("size") or 0),
                                _modified(entry)))  # fmt: skip
        out.sort(key=lambda f: f.name)
        return out

    def delete(self, path: str) -> None:
        """Remove a file, or a directory with everything under it; a missing one is fine."""
        fs, fs_path, uri = self._resolve(path)
        if not uri.startswith(self.root + "/"):
            raise ReadOnlySource(f"cannot delete {uri!r}: outside the store root {self.root!r}")
        try:
            if fs.isdir(fs_path):
                fs.rm(fs_path, recursive=True)
            else:
                fs.rm_file(fs_path)
        except FileNotFoundError:
            return
        except Exception as err:
            raise _unavailable(err, uri) from err

    def usage(self) -> tuple[int, int] | None:
        """(used bytes, capacity bytes) of the volume holding a file:// store; None on S3."""
        if self.scheme != "file":
            return None
        path = Path(_fs_path(self.root))
        while not path.exists() and path != path.parent:
            path = path.parent
        stats = os.statvfs(path)
        capacity = stats.f_blocks * stats.f_frsize
        return capacity - stats.f_bavail * stats.f_frsize, capacity


@dataclass(frozen=True)
class FileInfo:
    uri: str
    name: str  # relative to the directory listed
    size: int
    modified: datetime | None


def _modified(entry: Mapping[str, Any]) -> datetime | None:
    value = entry.get("mtime") or entry.get("LastModified") or entry.get("last_modified")
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(float(value), UTC)
    return None


def _atomic_local_write(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp-{secrets.token_hex(6)}")
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    _fsync_dir(target.parent)


def _fsync_dir(directory: Path) -> None:
    # Make the rename itself durable; not every platform lets a directory be opened.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
