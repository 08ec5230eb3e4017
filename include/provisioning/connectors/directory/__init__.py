"""Directory sources (the source of truth): the interface (``base``), the source of each
``directory.kind`` (``registry``), and the SQL source with its schema (``sql``, ``schema``)."""
