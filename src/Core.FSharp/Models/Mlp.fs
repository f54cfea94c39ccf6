/// (to be written)
module GcnKd.PlaceholderMlp
