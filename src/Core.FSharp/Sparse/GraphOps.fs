/// (to be written)
module GcnKd.PlaceholderGraphOps
