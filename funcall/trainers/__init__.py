"""Trainers: SFT and RL loops on a DeepSpeed engine, and the glue they share."""
