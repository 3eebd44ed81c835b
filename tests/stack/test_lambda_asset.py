"""The shared Lambda asset's hash follows the sources and nothing else (stable snapshots)."""

import shutil
from pathlib import Path

from spot_insights._lambda_asset import PACKAGES, PROJECT_ROOT, source_hash


def _copy(tmp_path: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(
            PROJECT_ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    return tmp_path


def test_hash_ignores_bytecode_caches_and_follows_sources(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    clean = source_hash(root)
    assert clean == source_hash(PROJECT_ROOT)  # this checkout's caches do not count either
    cache = root / "lambda_src" / "ingest" / "__pycache__"
    cache.mkdir(exist_ok=True)
    (cache / "handler.cpython-311.pyc").write_bytes(b"\x00bytecode")
    (root / "lambda_src" / "__pycache__").mkdir(exist_ok=True)
    assert source_hash(root) == clean
    handler = root / "lambda_src" / "ingest" / "handler.py"
    handler.write_text(handler.read_text() + "\n# changed\n")
    edited = source_hash(root)
    assert edited != clean
    handler.rename(root / "lambda_src" / "ingest" / "renamed.py")  # same bytes, new path
    assert source_hash(root) not in {clean, edited}
