"""The stages (stages/) and reading and writing (io/); see the README's Layout."""
