/// (to be written)
module GcnKd.PlaceholderInit
