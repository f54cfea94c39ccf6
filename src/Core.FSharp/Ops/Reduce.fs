/// (to be written)
module GcnKd.PlaceholderReduce
