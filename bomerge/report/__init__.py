"""What a study found, for people: an HTML page with plots, a PNG of the objective plane."""
