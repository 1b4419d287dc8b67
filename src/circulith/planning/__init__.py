"""Planning: retirement and feedstock forecast, recycling capacity gaps, network and lot routing."""
