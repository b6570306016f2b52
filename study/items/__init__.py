"""The item-first path: the item stage (its finder trained, the items it finds), item sets and
tiles, training and one trial, scoring labelled items, and a trained model judged end to end."""
