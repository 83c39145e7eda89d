"""Scores of a trained model: metrics, the classical baselines, ``crmss test`` (evaluate), results
as a tidy DataFrame, tables, figures and merged reports."""
