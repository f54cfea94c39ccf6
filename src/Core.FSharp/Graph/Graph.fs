/// (to be written)
module GcnKd.PlaceholderGraph
