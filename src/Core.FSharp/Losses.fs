/// (to be written)
module GcnKd.PlaceholderLosses
