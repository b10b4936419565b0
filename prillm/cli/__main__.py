"""``python -m prillm.cli``: the same as the ``prillm`` command."""

import sys

from prillm.cli import main

sys.exit(main())
