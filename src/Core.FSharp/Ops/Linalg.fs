/// (to be written)
module GcnKd.PlaceholderLinalg
