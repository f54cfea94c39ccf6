/// (to be written)
module GcnKd.PlaceholderSafetensors
