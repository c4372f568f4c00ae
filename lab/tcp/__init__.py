"""The chat over TCP: the threaded server, its delivery path, the terminal client, the naive exhibit."""
