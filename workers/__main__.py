"""`python -m workers`: the data-plane commands that `provision` hands over to."""

from contracts.plugins import disable

disable()  # before any model is built: see contracts.plugins

from workers.cli import main  # noqa: E402

if __name__ == "__main__":
    main()
