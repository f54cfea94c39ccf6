/// (to be written)
module GcnKd.PlaceholderCsr
