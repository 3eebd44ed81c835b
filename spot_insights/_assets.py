"""Where the constructs' files are, relative to the installed packages (never the working
directory): the `lambda_src` package wherever it was imported from, and the `dashboards` and
`nginx` folders inside this package once installed from a wheel (`spot_insights/_data/...`,
see pyproject.toml) or next to it in a source checkout.

Pure Python (no aws_cdk), like `_nginx_config`, which reads the nginx template from here.
"""

from __future__ import annotations

from pathlib import Path

import lambda_src.contract

PACKAGE_DIR = Path(__file__).resolve().parent
LAMBDA_SRC = Path(lambda_src.contract.__file__).resolve().parent


def _data_dir(name: str) -> Path:
    for candidate in (PACKAGE_DIR / "_data" / name, PACKAGE_DIR.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        f"spot_insights: the {name!r} files are neither in the installed package "
        f"({PACKAGE_DIR / '_data' / name}) nor next to it ({PACKAGE_DIR.parent / name})"
    )


DASHBOARDS = _data_dir("dashboards")
NGINX = _data_dir("nginx")
# The Lambda asset's folders, by the name they get inside the asset: the functions find the
# dashboards files next to their package (lambda_src/provisioning reads ../../dashboards).
LAMBDA_ASSET_SOURCES: dict[str, Path] = {"lambda_src": LAMBDA_SRC, "dashboards": DASHBOARDS}
