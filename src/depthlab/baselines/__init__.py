"""Baselines without a network: per-pixel scikit-learn regressors, searched and scored (`baselines.pixel`)."""
