"""`python -m workers`: the data-plane commands that `provision` hands over to.

A `converge` whose root the witness shows unchanged since it was last found converged is
answered before anything else is imported (`workers.shortcut`); everything else, and any
doubt, goes to the commands below.
"""

import sys

from workers.shortcut import run as shortcut

if __name__ == "__main__" and (code := shortcut(sys.argv[1:])) is not None:
    sys.exit(code)

from contracts.plugins import disable

disable()  # before any model is built: see contracts.plugins

from workers.cli import main  # noqa: E402

if __name__ == "__main__":
    main()
