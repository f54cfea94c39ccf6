/// (to be written)
module GcnKd.PlaceholderElementwise
