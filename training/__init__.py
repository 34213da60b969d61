"""Dataset readers and fine-tuning of the reasoner and the actor. Not built yet (issues 5, 6)."""
