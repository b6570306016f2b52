"""Figures (PNG) and static HTML pages: shared by the study's report and the scoring report."""
