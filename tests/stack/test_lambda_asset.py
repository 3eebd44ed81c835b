"""The shared Lambda asset's hash follows the sources and nothing else (stable snapshots)."""

import shutil
from pathlib import Path

from spot_insights._assets import LAMBDA_ASSET_SOURCES
from spot_insights._lambda_asset import source_hash


def _copy(tmp_path: Path) -> dict[str, Path]:
    for name, folder in LAMBDA_ASSET_SOURCES.items():
        shutil.copytree(folder, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    return {name: tmp_path / name for name in LAMBDA_ASSET_SOURCES}


def test_hash_ignores_bytecode_caches_and_follows_sources(tmp_path: Path) -> None:
    sources = _copy(tmp_path)
    root = tmp_path
    clean = source_hash(sources)
    assert clean == source_hash()  # this checkout's caches do not count either
    cache = root / "lambda_src" / "ingest" / "__pycache__"
    cache.mkdir(exist_ok=True)
    (cache / "handler.cpython-311.pyc").write_bytes(b"\x00bytecode")
    (root / "lambda_src" / "__pycache__").mkdir(exist_ok=True)
    assert source_hash(sources) == clean
    handler = root / "lambda_src" / "ingest" / "handler.py"
    handler.write_text(handler.read_text() + "\n# changed\n")
    edited = source_hash(sources)
    assert edited != clean
    handler.rename(root / "lambda_src" / "ingest" / "renamed.py")  # same bytes, new path
    assert source_hash(sources) not in {clean, edited}
