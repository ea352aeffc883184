// CogImageTests — tests land here.
