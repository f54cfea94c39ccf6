/// (to be written)
module GcnKd.PlaceholderGcn
