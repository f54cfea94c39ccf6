/// (to be written)
module GcnKd.PlaceholderGat
