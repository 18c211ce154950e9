"""Child processes of ours (workers, aggregator, controller): one supervisor, one command line."""
