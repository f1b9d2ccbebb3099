"""``python -m nni_cnas.cli``: the nni-cnas command."""

import sys

from . import main

sys.exit(main())
