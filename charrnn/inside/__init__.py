"""Looking inside a trained model (`charrnn inspect`, the page's Inside tab): what each
character cost, what each unit does, which units track which property of the text, how the
gates behave, and where one model beats another.

trace.py steps a model through a text with its own step form; properties.py labels each
position; ranking.py scores units against labels, with baselines; inspection.py puts them
together; report.py writes index.html and inspect.json.

May import: charrnn.errors, config, machine, text, models, runs.
"""
__all__ = ["inspection", "properties", "ranking", "report", "trace"]
