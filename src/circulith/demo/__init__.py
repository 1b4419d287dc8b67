"""The synthetic demo fleet (pure: generates passports and events; the service layer loads them)."""
