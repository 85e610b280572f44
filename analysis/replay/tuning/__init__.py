"""Tuning a local candidate from the workspace's own logs: the training set (held-out split,
leakage guard, PII scrub, trainer formats, manifest), CPU fine-tuning jobs with llama.cpp's
`llama-finetune`, and ready-to-run GPU recipes."""
