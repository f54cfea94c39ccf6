/// (to be written)
module GcnKd.PlaceholderSplits
