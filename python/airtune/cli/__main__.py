"""``python -m airtune.cli``: the same as the ``airtune`` command."""

import sys

from . import main

sys.exit(main())
