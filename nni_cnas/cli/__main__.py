"""``python -m nni_cnas.cli``: the nni-cnas command."""

import sys

from . import main

if __name__ == '__main__':  # (not when a documentation tool imports every module)
    sys.exit(main())
