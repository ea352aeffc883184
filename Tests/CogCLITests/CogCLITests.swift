// CogCLITests — tests land here.
