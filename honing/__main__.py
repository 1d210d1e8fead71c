"""``python -m honing`` is the same as the ``honing`` command."""

import sys

from honing.cli import main

sys.exit(main())
