"""{{title}} ({{authors}}, {{year}})."""
