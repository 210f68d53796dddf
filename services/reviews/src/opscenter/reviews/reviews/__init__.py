"""Reviews of a plugin: writing, editing, deleting, helpful votes, developer replies, hiding."""
