/// (to be written)
module GcnKd.PlaceholderDropout
