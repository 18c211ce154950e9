"""`python -m producers`: the same as the `provision` command."""

from producers.cli import main

if __name__ == "__main__":
    main()
