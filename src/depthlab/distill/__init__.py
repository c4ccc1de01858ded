"""Distillation: a teacher labels unlabelled images once (distill.py); students train on them with data=pseudo."""
