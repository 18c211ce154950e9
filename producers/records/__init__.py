"""What happened: the ledger of outcomes, compliance standings, the inventory, the aggregator."""
