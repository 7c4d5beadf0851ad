"""Use cases shared by the JSON routes and the HTML dashboard: the business rules of one request (ownership,
ids, validation against stored objects, what to reload), on the engine facade and the ports the composition
root hands to the app (``Store``, accounts). Routes only parse, authorise and render."""
