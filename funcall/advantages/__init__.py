"""Advantage estimators: rewards (and entropies) in, advantages out, as plain tensors."""
