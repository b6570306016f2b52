"""The item stage: finding each item and its mask in a scan, and cutting item crops at native pitch."""
