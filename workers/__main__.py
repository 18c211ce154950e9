"""`python -m workers`: the data-plane commands that `provision` hands over to."""

import os

# We use no pydantic plugins; looking for them reads every installed package's metadata,
# a cost `provision converge` would pay at every start.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

from workers.cli import main

if __name__ == "__main__":
    main()
