/// (to be written)
module GcnKd.PlaceholderSage
