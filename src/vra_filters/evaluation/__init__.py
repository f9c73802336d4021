"""Evaluations of the models on labelled data (``vra evaluate ...``): one module each."""
