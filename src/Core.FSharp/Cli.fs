/// (to be written)
module GcnKd.PlaceholderCli
