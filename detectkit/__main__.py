"""``python -m detectkit`` runs the command line."""

import sys

from detectkit.cli import main

sys.exit(main())
