/// (to be written)
module GcnKd.PlaceholderGin
