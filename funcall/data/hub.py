"""Where a data source's rows come from: a local file, a local dataset folder or a Hugging Face Hub id.

The one place that decides between local and Hub for ``data.path`` (every training source) and
``input.path`` (`funcall.prepare_data`). `read_rows` returns ``(where, row)`` pairs, ``where``
naming the row in error messages:

* an existing file is read by the caller's own reader (JSONL / JSON array), as before;
* an existing folder is a local dataset repository (data files + optional README card), read by
  ``datasets.load_dataset(folder, name, split=..., revision=...)``, the same code path as a Hub
  id, unless the source reads folders itself (``local_dirs=True``: a BFCL folder);
* a path that looks like a dataset id (``name`` or ``owner/name``, no data-file extension) is
  loaded from the Hub; anything else is handed to the local reader, so a mistyped file keeps its
  ``<file>: no such file`` message instead of becoming a Hub lookup.

How this differs from calling ``load_dataset`` directly: (1) the Hub is asked once, quickly
(`_probe`, one request with a short timeout), before ``load_dataset`` is given the id, because
``load_dataset`` retries an unreachable Hub for half a minute and then raises a ``ConnectionError``
with a traceback; a failure becomes one `ConfigError` line naming the option. With
``HF_HUB_OFFLINE=1`` nothing is asked and a cached copy is used. (2) Arrow gives every nested
object the union of the keys seen in the whole column, filling absent ones with null; those nulls
are dropped again (`_strip_nulls`), so a tool does not gain the parameters of every other tool. A
null *inside* a nested object therefore reads as absent; store nested fields as JSON strings (as
xLAM-60k does) to keep them exact. Top-level fields are left as they are.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from funcall.utils.errors import ConfigError, DataError

PROBE_TIMEOUT_S = 10.0
_DATA_SUFFIXES = (".json", ".jsonl", ".parquet", ".csv", ".tsv", ".txt", ".arrow", ".gz", ".zip")
_REPO_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?")


def looks_like_dataset_id(path: str) -> bool:
    """``owner/name`` or ``name``, not a path (``/``, ``./``, ``~``) nor a data file name."""
    return bool(_REPO_ID.fullmatch(path)) and not path.lower().endswith(_DATA_SUFFIXES) and ".." not in path


def read_rows(path: str, read_local: Callable[[str], list], *, split: str = "train", name: str | None = None,
              revision: str | None = None, option: str = "data.path", local_dirs: bool = False) -> list:
    """The rows of ``path``: ``read_local(path)`` for an existing file (and for an existing folder
    when ``local_dirs``) or a path that is no dataset id; ``datasets.load_dataset`` otherwise, as
    ``(f"{path}:{split}[{i}]", row dict)`` pairs."""
    path = str(path)
    p = Path(path).expanduser()
    if p.is_file() or (p.is_dir() and local_dirs) or (not p.exists() and not looks_like_dataset_id(path)):
        return read_local(path)
    if not p.is_dir():
        _probe(path, revision, option)
    return [(f"{path}:{split}[{i}]", row) for i, row in enumerate(_load(str(p) if p.is_dir() else path, split, name,
                                                                          revision, option))]


def _probe(dataset_id: str, revision: str | None, option: str) -> None:
    """One quick request for the dataset's info, so an unreachable or wrong id fails at once."""
    from huggingface_hub import HfApi, constants
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError

    if constants.HF_HUB_OFFLINE:
        return  # load_dataset uses the cache, or says it cannot reach the Hub
    try:
        HfApi().dataset_info(dataset_id, revision=revision, timeout=PROBE_TIMEOUT_S)
    except GatedRepoError:
        raise ConfigError(f"{option}={dataset_id}: a gated dataset on the Hugging Face Hub; accept its terms "
                          "and log in (hf auth login or HF_TOKEN)") from None
    except RevisionNotFoundError:
        raise ConfigError(f"{option}={dataset_id}: no revision {revision!r} on the Hugging Face Hub "
                          f"({option.rsplit('.', 1)[0]}.revision)") from None
    except RepositoryNotFoundError:
        raise ConfigError(f"{option}={dataset_id}: no such file or folder, nor a dataset on the Hugging Face Hub "
                          "(a private one needs hf auth login or HF_TOKEN)") from None
    except HfHubHTTPError as exc:
        raise ConfigError(f"{option}={dataset_id}: the Hugging Face Hub answered {_one_line(exc)}") from None
    except Exception as exc:  # noqa: BLE001 - the HTTP client's transport errors (DNS, refused, timeout)
        raise ConfigError(f"{option}={dataset_id}: no such file or folder, and the Hugging Face Hub could not be "
                          f"reached to load it as a dataset id ({type(exc).__name__}; HF_HUB_OFFLINE=1 uses a "
                          "cached copy)") from None


def _load(source: str, split: str, name: str | None, revision: str | None, option: str) -> list[dict]:
    import datasets

    datasets.logging.set_verbosity_error()
    datasets.disable_progress_bars()
    try:
        ds = datasets.load_dataset(source, name, split=split, revision=revision)
    except ConnectionError as exc:
        raise ConfigError(f"{option}={source}: the Hugging Face Hub could not be reached ({_one_line(exc)})") from None
    except (FileNotFoundError, ValueError, datasets.exceptions.DatasetsError) as exc:
        raise ConfigError(f"{option}={source} (split={split}, name={name}, revision={revision}): "
                          f"{_one_line(exc)}") from None
    if not isinstance(ds, datasets.Dataset):
        raise ConfigError(f"{option}={source}: split={split} did not give one table")
    rows = [_strip_nulls(row, top=True) for row in ds]
    if not rows:
        raise DataError(f"{source}:{split}: no rows")
    return rows


def _strip_nulls(value: Any, top: bool = False) -> Any:
    if isinstance(value, dict):
        return {k: _strip_nulls(v) for k, v in value.items() if top or v is not None}
    if isinstance(value, list):
        return [_strip_nulls(v) for v in value]
    return value


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300] + ("..." if len(text) > 300 else "")
