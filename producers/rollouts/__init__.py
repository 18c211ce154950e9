"""A change event's way: intake, plan, store, drive (controller), progress, direct path."""
