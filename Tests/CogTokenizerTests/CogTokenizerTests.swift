// CogTokenizerTests — tests land here.
