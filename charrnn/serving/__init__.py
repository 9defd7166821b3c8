"""`charrnn serve`: a trained model behind an HTTP API and a web page (the serve extra): the
server (server), the app and its routes (app), the requests' shapes and bounds (schema), the
batcher that steps concurrent requests together (batcher) and the "Human or machine?" game
(game).

May import: anything in charrnn but charrnn.cli.
"""
__all__ = ["app", "batcher", "game", "schema", "server"]
