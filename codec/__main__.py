"""``python -m codec`` runs the nircodec CLI."""

import sys

from codec.cli import main

sys.exit(main())
