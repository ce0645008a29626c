"""``python -m lumen_bridge`` runs the command line."""

import sys

from lumen_bridge.cli import main

sys.exit(main())
