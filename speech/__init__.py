"""The actor: speaks a line in a reference voice, timed to the window, with the emotion asked for."""
