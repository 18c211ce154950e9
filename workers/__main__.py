"""`python -m workers`: the data-plane commands that `provision` hands over to."""

from workers.cli import main

if __name__ == "__main__":
    main()
