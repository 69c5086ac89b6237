"""What every package shares and nothing numeric: the two error kinds, the validation
vocabulary, formatting and JSON, figures, the command-line entry and experiment
tracking."""
