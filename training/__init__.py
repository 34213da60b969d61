"""Dataset readers and fine-tuning: TRL scripts for the reasoner (sft, mpo, grpo, pairs) and the F5 actor trainer."""
