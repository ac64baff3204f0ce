"""``python -m pyoci``: the same CLI as the ``pyoci`` command."""

import sys

from pyoci.cli import main

sys.exit(main(sys.argv[1:]))
