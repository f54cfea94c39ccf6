/// (to be written)
module GcnKd.PlaceholderConv
