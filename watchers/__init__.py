"""What looks at PubMed: the Entrez client, the article model, searches, cited-by lookups, the store."""
