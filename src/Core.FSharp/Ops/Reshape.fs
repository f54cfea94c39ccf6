/// (to be written)
module GcnKd.PlaceholderReshape
