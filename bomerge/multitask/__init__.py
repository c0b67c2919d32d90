"""The CS224N multitask setting: one BERT-family encoder with SST, Quora and STS heads."""
