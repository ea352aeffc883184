// CogTensorTests — tests land here.
