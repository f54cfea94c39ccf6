/// (to be written)
module GcnKd.PlaceholderOptimizers
