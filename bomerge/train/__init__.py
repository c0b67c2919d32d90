"""Fine-tuning loops that keep the last k snapshots (the candidates of SWA and soups)."""
