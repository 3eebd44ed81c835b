"""`python -m spot_cli` runs the same entry point as the `spot-insights` console script."""

import sys

from spot_cli.main import main

sys.exit(main())
