"""How values, names and timestamps sit on an item: codecs, keys, short-id names, expiry."""
