/// (to be written)
module GcnKd.PlaceholderGfkdFamily
