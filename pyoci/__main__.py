"""``python -m pyoci``: the same CLI as the ``pyoci`` command."""

import sys

from pyoci.cli import exit_now, main

exit_now(main(sys.argv[1:]))
