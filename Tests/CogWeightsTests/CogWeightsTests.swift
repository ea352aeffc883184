// CogWeightsTests — tests land here.
