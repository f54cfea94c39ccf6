/// (to be written)
module GcnKd.PlaceholderSchedules
