"""The candidate assistant's domain, free of Rasa: ATS access, identity, stages, status replies."""
