"""The run directory and what reads it: its files, each written whole (rundir), the shapes in
a params file (paramfile), a trained model loaded after every check (loading), what a run is
and how far it got (summary), its curves as a picture (plots), and the corpus and models that
ship with charrnn (bundled).

May import: charrnn.errors, charrnn.config, charrnn.machine, charrnn.text, charrnn.models.
"""
__all__ = ["bundled", "loading", "paramfile", "plots", "rundir", "summary"]
